/* Console output: stdout for log, info and debug, stderr for warn and
 * error, and JSON lines in the --log file. */
#pragma once

#include "app/host.h"

#include <stddef.h>

/* Append {"time", "level", "message"} as one JSON line to the --log file,
 * when there is one. */
void cs_app_console_log(cs_app_host *host, const char *level, const char *message, size_t len);
