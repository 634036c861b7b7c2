#include "app/exports.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "package.json field 'exports'"

/* Copy target with every '*' replaced by match (when match is not NULL). */
static char *substitute(const char *target, const char *match)
{
    size_t stars = 0;
    for (const char *p = target; *p; p++)
        stars += *p == '*';
    size_t mlen = match ? strlen(match) : 0;
    char *out = malloc(strlen(target) + stars * mlen + 1);
    if (!out)
        return NULL;
    char *w = out;
    for (const char *p = target; *p; p++) {
        if (*p == '*' && match) {
            memcpy(w, match, mlen);
            w += mlen;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return out;
}

static int resolve_target(json_t *value, const char *match, char **target, cs_error *err)
{
    if (json_is_null(value))
        return 0;
    if (json_is_string(value)) {
        const char *s = json_string_value(value);
        if (strncmp(s, "./", 2) != 0)
            return cs_error_set(err, EINVAL, WHERE ": target '%s' does not start with './'", s);
        *target = substitute(s, match);
        return *target ? 1 : cs_error_set(err, ENOMEM, "out of memory");
    }
    if (json_is_array(value)) {
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            int rc = resolve_target(item, match, target, err);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (json_is_object(value)) {
        const char *key;
        json_t *item;
        json_object_foreach(value, key, item)
        {
            if (strcmp(key, "require") != 0 && strcmp(key, "default") != 0)
                continue;
            int rc = resolve_target(item, match, target, err);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    return cs_error_set(err, EINVAL, WHERE ": a target must be a string, array, object or null");
}

/* Find the "*" pattern key that matches subpath with the longest prefix, as
 * Node does. Returns the value and the text that '*' stands for. */
static json_t *match_pattern(json_t *map, const char *subpath, char **match)
{
    const char *key, *best_key = NULL;
    size_t best_prefix = 0;
    json_t *value, *best = NULL;
    size_t slen = strlen(subpath);
    json_object_foreach(map, key, value)
    {
        const char *star = strchr(key, '*');
        if (!star || strchr(star + 1, '*'))
            continue;
        size_t prefix = (size_t)(star - key), suffix = strlen(star + 1);
        if (slen < prefix + suffix || strncmp(subpath, key, prefix) != 0 ||
            strcmp(subpath + slen - suffix, star + 1) != 0)
            continue;
        if (!best || prefix > best_prefix) {
            best = value;
            best_key = key;
            best_prefix = prefix;
        }
    }
    if (!best)
        return NULL;
    size_t suffix = strlen(strchr(best_key, '*') + 1);
    *match = strndup(subpath + best_prefix, slen - best_prefix - suffix);
    return *match ? best : NULL;
}

int cs_app_exports_resolve(json_t *exports, const char *subpath, char **target, cs_error *err)
{
    /* An object whose keys start with '.' maps subpaths. Any other value is
     * the export of "." alone. Node rejects a mix of both kinds of key. */
    bool subpath_keys = false, condition_keys = false;
    if (json_is_object(exports)) {
        const char *key;
        json_t *value;
        json_object_foreach(exports, key, value)
        {
            if (key[0] == '.')
                subpath_keys = true;
            else
                condition_keys = true;
        }
        if (subpath_keys && condition_keys)
            return cs_error_set(err, EINVAL, WHERE ": keys must all start with '.' or none may");
    }
    if (!subpath_keys)
        return strcmp(subpath, ".") == 0 ? resolve_target(exports, NULL, target, err) : 0;

    json_t *exact = json_object_get(exports, subpath);
    if (exact && !strchr(subpath, '*'))
        return resolve_target(exact, NULL, target, err);
    char *match = NULL;
    json_t *pattern = match_pattern(exports, subpath, &match);
    if (!pattern)
        return 0;
    int rc = resolve_target(pattern, match, target, err);
    free(match);
    return rc;
}
