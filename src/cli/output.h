/* Printing verification results as text or JSON. */
#pragma once

#include "package/verify.h"

#include <jansson.h>

/* JSON description of a verification result (new reference). */
json_t *cli_result_json(const char *target, int rc, const cs_verify_result *res);

/* Human-readable description of a verification result on stdout. */
void cli_result_print(const char *target, int rc, const cs_verify_result *res);

/* Print a JSON value on stdout followed by a newline. */
void cli_print_json(json_t *value);
