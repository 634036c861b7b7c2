/* The daemon's control socket: where it is, and the request format.
 *
 * Requests and replies are JSON objects, one per line. A request names a
 * "command" ("start", "ps", "stop", "logs") and its arguments; every reply
 * has "ok" and, on failure, "error". The socket is a Unix socket with mode
 * 0600 in a folder with mode 0700, and the daemon checks every client's
 * credentials (SO_PEERCRED): only its own user and root may connect. */
#pragma once

#include <stddef.h>

/* Maximum length of one request line, in bytes. */
#define CS_CONTROL_REQUEST_MAX (64 * 1024)

/* The socket path: $CASHSTORY_SOCKET, else /run/cashstory/control.sock for
 * root, else $XDG_RUNTIME_DIR/cashstory/control.sock. Returns 0 or -ENOENT
 * when no path can be found. */
int cs_control_default_path(char *out, size_t size);
