#include "common/json.h"

#include <stdlib.h>
#include <string.h>

int cs_json_parse(const void *data, size_t len, const char *what, json_t **out, cs_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cs_error_set(err, EINVAL, "%s: invalid JSON at line %d, column %d: %s", what,
                            jerr.line, jerr.column, jerr.text);
    *out = root;
    return 0;
}

size_t cs_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int cs_json_check_keys(json_t *obj, const char *const *allowed, const char *where, cs_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        bool known = false;
        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(key, *a) == 0) {
                known = true;
                break;
            }
        }
        if (known)
            continue;

        const char *nearest = NULL;
        size_t best = (size_t)-1;
        for (const char *const *a = allowed; *a; a++) {
            size_t d = cs_edit_distance(key, *a);
            if (d < best) {
                best = d;
                nearest = *a;
            }
        }
        if (nearest && best <= 3)
            return cs_error_set(err, EINVAL, "%s: unknown field '%s' (did you mean '%s'?)", where,
                                key, nearest);
        return cs_error_set(err, EINVAL, "%s: unknown field '%s'", where, key);
    }
    return 0;
}

const char *cs_json_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

static int get_typed(json_t *obj, const char *key, bool optional, const char *where, json_type type,
                     const char *type_name, json_t **out, cs_error *err)
{
    json_t *value = json_object_get(obj, key);
    *out = NULL;
    if (!value) {
        if (optional)
            return 0;
        return cs_error_set(err, EINVAL, "%s: missing required field '%s'", where, key);
    }
    if (json_typeof(value) != type)
        return cs_error_set(err, EINVAL, "%s: field '%s' must be %s, not %s", where, key, type_name,
                            cs_json_type_name(value));
    *out = value;
    return 0;
}

int cs_json_get_string(json_t *obj, const char *key, bool optional, const char *where,
                       const char **out, cs_error *err)
{
    json_t *value;
    int rc = get_typed(obj, key, optional, where, JSON_STRING, "a string", &value, err);
    if (rc < 0)
        return rc;
    *out = value ? json_string_value(value) : NULL;
    if (value && strlen(*out) != json_string_length(value))
        return cs_error_set(err, EINVAL, "%s: field '%s' contains a NUL character", where, key);
    return 0;
}

int cs_json_get_object(json_t *obj, const char *key, bool optional, const char *where, json_t **out,
                       cs_error *err)
{
    return get_typed(obj, key, optional, where, JSON_OBJECT, "an object", out, err);
}

int cs_json_get_array(json_t *obj, const char *key, bool optional, const char *where, json_t **out,
                      cs_error *err)
{
    return get_typed(obj, key, optional, where, JSON_ARRAY, "an array", out, err);
}

char *cs_json_dump_canonical(const json_t *value)
{
    char *text = json_dumps(value, JSON_SORT_KEYS | JSON_INDENT(2));
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    return out;
}
