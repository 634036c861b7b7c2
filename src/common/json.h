/* Strict JSON helpers on top of Jansson. */
#pragma once

#include "common/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Parse len bytes as one JSON document, rejecting duplicate object keys and
 * invalid UTF-8. Errors name `what` with the line and column. */
int cs_json_parse(const void *data, size_t len, const char *what, json_t **out, cs_error *err);

/* Check that every key of obj is in the NULL-terminated list allowed. An
 * unknown key is an error that names `where`, the key and the nearest allowed
 * key. */
int cs_json_check_keys(json_t *obj, const char *const *allowed, const char *where, cs_error *err);

/* Fetch a required (or, with optional, possibly absent) member of a given type.
 * *out is NULL when an optional member is absent. Type errors name `where`
 * and the key. */
int cs_json_get_string(json_t *obj, const char *key, bool optional, const char *where,
                       const char **out, cs_error *err);
int cs_json_get_object(json_t *obj, const char *key, bool optional, const char *where, json_t **out,
                       cs_error *err);
int cs_json_get_array(json_t *obj, const char *key, bool optional, const char *where, json_t **out,
                      cs_error *err);

/* Name of the JSON type of value, for messages ("string", "array", ...). */
const char *cs_json_type_name(const json_t *value);

/* Serialize with sorted keys and two-space indentation, followed by a newline.
 * The output is deterministic for equal values. Returns a malloc'ed string. */
char *cs_json_dump_canonical(const json_t *value);

/* Edit distance between two short strings, for "did you mean" suggestions. */
size_t cs_edit_distance(const char *a, const char *b);
