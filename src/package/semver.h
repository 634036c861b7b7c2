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

/* Version ranges, as in a manifest's "runtime" field and in update policy.
 *
 * Grammar:
 *   range       = alternative *( "||" alternative )
 *   alternative = comparator *( " " comparator )     all must hold
 *   comparator  = [ op ] partial                      no space after op
 *   op          = "=" | ">" | ">=" | "<" | "<=" | "^" | "~"
 *   partial     = "*" | "x" | "X" | NUM [ "." part [ "." part [ PRE ] [ BUILD ] ] ]
 *   part        = NUM | "*" | "x" | "X"
 *
 * Spaces separate comparators, and any number of them may surround "||".
 * A range of only spaces matches like "*". A version without an operator,
 * or with "=", must be equal (build metadata ignored). A partial version
 * stands for every version it leaves open: "1.2" and "1.2.x" mean
 * ">=1.2.0 <1.3.0", ">1.2" means ">=1.3.0", "<=1.2" means "<1.3.0".
 * "^1.2.3" allows changes that keep the first non-zero part: ">=1.2.3
 * <2.0.0", "^0.2.3" is ">=0.2.3 <0.3.0", "^0.0.3" is ">=0.0.3 <0.0.4".
 * "~1.2.3" allows patch changes: ">=1.2.3 <1.3.0"; "~1" is ">=1.0.0 <2.0.0".
 * A prerelease version (1.3.0-beta) matches an alternative only when one of
 * its comparators names a prerelease of the same MAJOR.MINOR.PATCH, so
 * ">=1.2.0 <2.0.0" does not take 1.3.0-beta or 2.0.0-rc.1. Hyphen ranges
 * ("1.0 - 2.0") are not part of the grammar. */
#define CS_SEMVER_RANGE_MAX 256

/* True when range follows the grammar above and has at most
 * CS_SEMVER_RANGE_MAX bytes. */
bool cs_semver_range_valid(const char *range);

/* True when version is a valid semantic version that range allows. False
 * for an invalid range or version. */
bool cs_semver_range_match(const char *range, const char *version);
