/* Semantic versions (https://semver.org, version 2.0.0). */
#pragma once

#include <stdbool.h>

#define CS_VERSION_MAX 128

/* True when text is a valid semantic version: MAJOR.MINOR.PATCH with optional
 * -PRERELEASE and +BUILD parts, no leading zeros, at most CS_VERSION_MAX bytes. */
bool cs_semver_valid(const char *text);

/* Compare two valid versions by semver precedence (build metadata ignored).
 * Returns <0, 0 or >0. */
int cs_semver_compare(const char *a, const char *b);
