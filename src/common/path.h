/* Validation of the relative paths that name files inside a package. */
#pragma once

#include "common/error.h"

#include <stdbool.h>

/* Limits on package paths, in bytes. */
#define CS_PATH_MAX 1024
#define CS_PATH_COMPONENT_MAX 255

/* Check that path is a canonical relative package path: non-empty, at most
 * CS_PATH_MAX bytes, components separated by single '/', no leading or
 * trailing '/', no "." or ".." component, no component longer than
 * CS_PATH_COMPONENT_MAX, no control characters or backslashes, and valid UTF-8.
 * Returns 0 or -EINVAL with the reason in err. */
int cs_path_check(const char *path, cs_error *err);

/* True when path is inside the reserved metadata folder ".cashstory". */
bool cs_path_is_reserved(const char *path);
