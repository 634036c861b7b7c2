/* The "exports" field of package.json, as Node resolves it for require(). */
#pragma once

#include "common/error.h"

#include <jansson.h>

/* Find the target of subpath ("." or "./name") in the exports value of a
 * package.json, matching the conditions "require" and "default" in the
 * order the object lists them, exact keys first and then "*" patterns.
 * Returns 1 with the target (a new string starting with "./") in *target,
 * 0 when the package does not export subpath, or -EINVAL when the field is
 * malformed. */
int cs_app_exports_resolve(json_t *exports, const char *subpath, char **target, cs_error *err);
