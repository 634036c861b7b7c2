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

/* Whether, at the same level and scope, the value of a later file replaces
 * an earlier one for the setting name ("limits.memory_mb", or a flag such
 * as "developer_mode"): false beats true for flags, the lower limit and
 * rollout percentage win, the higher minimum version wins, and otherwise
 * (equal values too) the later file wins. */
bool cs_policy_later_wins(const char *name, json_t *later, json_t *earlier);
