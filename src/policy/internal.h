/* Helpers shared by the files of src/policy. */
#pragma once

#include "policy/policy.h"

#include <stdbool.h>

/* An app id, an id pattern ("com.example.*") or "*". */
bool cs_policy_id_pattern_valid(const char *pattern);

/* A publisher selector: a key id or certificate fingerprint (64 hex digits)
 * or a certificate subject ("CN=...,O=..."). */
bool cs_policy_publisher_valid(const char *selector);

/* An update window "HH:MM-HH:MM". */
bool cs_policy_window_valid(const char *window);
