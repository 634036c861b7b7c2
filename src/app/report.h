/* Reports of uncaught errors, unhandled rejections and host failures. */
#pragma once

#include "app/host.h"

/* Text for a thrown value: "Name: message" and, for errors with a stack,
 * one "    at function (file:line:column)" line per frame. Returns a new
 * string, or NULL when out of memory. */
char *cs_app_describe_exception(JSContextRef ctx, JSValueRef value);

/* Print "cashstory-app: <what>: <description>" on stderr (and in the --log
 * file), then exit with status 1. */
_Noreturn void cs_app_report_exception(cs_app_host *host, const char *what, JSValueRef value);

/* Print "cashstory-app: <message of err>" on stderr (and in the --log file),
 * then exit with status 1. For files that fail verification. */
_Noreturn void cs_app_report_fatal(cs_app_host *host, const cs_error *err);
