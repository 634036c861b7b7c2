/* Strict parser of repository metadata files and lookups in them. */
#include "update/metadata.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"
#include "crypto/signature.h"
#include "package/index.h"
#include "package/manifest.h"
#include "package/semver.h"
#include "update/metadata_internal.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

/* Maximum length of a string or object key anywhere in a metadata file. */
#define STRING_MAX 256

const char *const cs_meta_role_names[4] = {"root", "targets", "snapshot", "timestamp"};

/* Builds "file: signed.X" style locations for messages. */
typedef struct location {
    char text[512];
} location;

static const char *at(location *w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *at(location *w, const char *name, const char *fmt, ...)
{
    int n = snprintf(w->text, sizeof(w->text), "%s: ", name);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(w->text))
        vsnprintf(w->text + n, sizeof(w->text) - (size_t)n, fmt, ap);
    va_end(ap);
    return w->text;
}

static bool printable_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    }
    return true;
}

/* Reject what the canonical form cannot represent one way: floating-point
 * numbers, integers outside 0..2^53-1, strings and keys that are not
 * printable ASCII or longer than STRING_MAX. `field` names the member that
 * holds value. */
static int check_values(const json_t *value, const char *name, const char *field, int depth,
                        cs_error *err)
{
    if (depth > 16)
        return cs_error_set(err, EINVAL, "%s: field '%s' is nested too deeply", name, field);
    switch (json_typeof(value)) {
    case JSON_REAL:
        return cs_error_set(err, EINVAL,
                            "%s: field '%s' is a floating-point number; metadata uses integers "
                            "only",
                            name, field);
    case JSON_INTEGER:
        if (json_integer_value(value) < 0 ||
            (uint64_t)json_integer_value(value) > CS_META_VERSION_MAX)
            return cs_error_set(err, EINVAL, "%s: field '%s' is outside 0 to 2^53-1", name, field);
        return 0;
    case JSON_STRING: {
        size_t len = json_string_length(value);
        if (len > STRING_MAX)
            return cs_error_set(err, EINVAL, "%s: field '%s' is longer than %d bytes", name, field,
                                STRING_MAX);
        if (!printable_ascii(json_string_value(value), len))
            return cs_error_set(err, EINVAL,
                                "%s: field '%s' contains a character outside printable ASCII", name,
                                field);
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        const json_t *item;
        json_array_foreach(value, i, item)
        {
            int rc = check_values(item, name, field, depth + 1, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)value, key, item)
        {
            size_t len = strlen(key);
            if (len > STRING_MAX)
                return cs_error_set(err, EINVAL, "%s: a key inside '%s' is longer than %d bytes",
                                    name, field, STRING_MAX);
            if (!printable_ascii(key, len))
                return cs_error_set(err, EINVAL,
                                    "%s: a key inside '%s' contains a character outside "
                                    "printable ASCII",
                                    name, field);
            int rc = check_values(item, name, key, depth + 1, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        return cs_error_set(err, EINVAL, "%s: field '%s' is %s, which metadata never uses", name,
                            field, cs_json_type_name(value));
    }
    return cs_error_set(err, EINVAL, "%s: field '%s' has an unknown type", name, field);
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static int get_hex(json_t *obj, const char *key, size_t len, const char *where, const char **out,
                   cs_error *err)
{
    int rc = cs_json_get_string(obj, key, false, where, out, err);
    if (rc < 0)
        return rc;
    if (!is_hex(*out, len))
        return cs_error_set(err, EINVAL, "%s: field '%s' is not %zu lowercase hex digits", where,
                            key, len);
    return 0;
}

static int get_uint(json_t *obj, const char *key, uint64_t min, uint64_t max, const char *where,
                    uint64_t *out, cs_error *err)
{
    json_t *value = json_object_get(obj, key);
    if (!value)
        return cs_error_set(err, EINVAL, "%s: missing required field '%s'", where, key);
    if (!json_is_integer(value))
        return cs_error_set(err, EINVAL, "%s: field '%s' must be an integer, not %s", where, key,
                            cs_json_type_name(value));
    json_int_t v = json_integer_value(value);
    if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
        return cs_error_set(err, EINVAL, "%s: field '%s' is %lld, expected %llu to %llu", where,
                            key, (long long)v, (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)v;
    return 0;
}

/* Parse YYYY-MM-DDTHH:MM:SSZ as UTC, rejecting dates that do not exist. */
static bool parse_time(const char *s, time_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    struct tm want = tm;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    struct tm back;
    if (!gmtime_r(&t, &back) || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
        back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour ||
        back.tm_min != want.tm_min || back.tm_sec != want.tm_sec)
        return false;
    *out = t;
    return true;
}

void cs_meta_format_time(time_t t, char out[21])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        snprintf(out, 21, "9999-12-31T23:59:59Z");
        return;
    }
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

EVP_PKEY *cs_meta_key_from_hex(const char *hex)
{
    uint8_t raw[32];
    if (cs_hex_decode(hex, raw, sizeof(raw)) < 0)
        return NULL;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
}

int cs_meta_key_public_hex(EVP_PKEY *key, char out[65], cs_error *err)
{
    uint8_t raw[32];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof(raw)) {
        ERR_clear_error();
        return cs_error_set(err, EINVAL, "the key is not an Ed25519 key");
    }
    cs_hex_encode(raw, sizeof(raw), out);
    return 0;
}

/* "keys": { "<key id>": { "type": "ed25519", "public": "<64 hex>" } } */
static int parse_keys(json_t *keys, const char *name, const char *field, cs_error *err)
{
    location w;
    size_t n = json_object_size(keys);
    if (n == 0 || n > CS_META_MAX_KEYS)
        return cs_error_set(err, EINVAL, "%s: '%s' lists %zu keys, expected 1 to %d", name, field,
                            n, CS_META_MAX_KEYS);
    const char *keyid;
    json_t *entry;
    json_object_foreach(keys, keyid, entry)
    {
        at(&w, name, "%s['%.64s']", field, keyid);
        if (!is_hex(keyid, CS_KEY_ID_HEX_LEN))
            return cs_error_set(err, EINVAL, "%s: the key id is not 64 lowercase hex digits",
                                w.text);
        if (!json_is_object(entry))
            return cs_error_set(err, EINVAL, "%s must be an object", w.text);
        static const char *const allowed[] = {"type", "public", NULL};
        const char *type, *public;
        int rc;
        if ((rc = cs_json_check_keys(entry, allowed, w.text, err)) < 0 ||
            (rc = cs_json_get_string(entry, "type", false, w.text, &type, err)) < 0 ||
            (rc = get_hex(entry, "public", 64, w.text, &public, err)) < 0)
            return rc;
        if (strcmp(type, "ed25519") != 0)
            return cs_error_set(err, EINVAL, "%s: key type '%s' is not supported; use 'ed25519'",
                                w.text, type);
        cs_autopkey EVP_PKEY *key = cs_meta_key_from_hex(public);
        char actual[CS_KEY_ID_HEX_LEN + 1];
        if (!key || cs_key_id(key, actual) < 0) {
            ERR_clear_error();
            return cs_error_set(err, EINVAL, "%s: 'public' is not a valid Ed25519 key", w.text);
        }
        if (strcmp(actual, keyid) != 0)
            return cs_error_set(err, EINVAL,
                                "%s: the key id does not match the key, whose id is %s", w.text,
                                actual);
    }
    return 0;
}

/* { "keyids": [...], "threshold": N }, every id listed in keys. `allowed`
 * lists the permitted fields, which delegated roles extend. */
static int parse_role(json_t *role, json_t *keys, const char *const *allowed, const char *where,
                      cs_error *err)
{
    if (!json_is_object(role))
        return cs_error_set(err, EINVAL, "%s must be an object", where);
    int rc = cs_json_check_keys(role, allowed, where, err);
    if (rc < 0)
        return rc;
    json_t *keyids;
    if ((rc = cs_json_get_array(role, "keyids", false, where, &keyids, err)) < 0)
        return rc;
    size_t n = json_array_size(keyids);
    if (n == 0 || n > CS_META_MAX_ROLE_KEYS)
        return cs_error_set(err, EINVAL, "%s: 'keyids' lists %zu keys, expected 1 to %d", where, n,
                            CS_META_MAX_ROLE_KEYS);
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(keyids, i));
        if (!id || !is_hex(id, CS_KEY_ID_HEX_LEN))
            return cs_error_set(err, EINVAL,
                                "%s: keyids[%zu] is not a key id of 64 lowercase hex digits", where,
                                i);
        if (!json_object_get(keys, id))
            return cs_error_set(err, EINVAL, "%s: key %s is not listed in 'keys'", where, id);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(id, json_string_value(json_array_get(keyids, j))) == 0)
                return cs_error_set(err, EINVAL, "%s: key %s is listed twice", where, id);
        }
    }
    uint64_t threshold;
    return get_uint(role, "threshold", 1, n, where, &threshold, err);
}

/* The fields of "signed" in each role's file, by cs_meta_type. */
static const char *const signed_fields[4][7] = {
    {"type", "format", "version", "expires", "keys", "roles", NULL},
    {"type", "format", "version", "expires", "targets", "delegations", NULL},
    {"type", "format", "version", "expires", "meta", NULL},
    {"type", "format", "version", "expires", "snapshot", NULL},
};

static int parse_root(json_t *s, const char *name, cs_error *err)
{
    location w;
    int rc = cs_json_check_keys(s, signed_fields[CS_META_ROOT], at(&w, name, "signed"), err);
    if (rc < 0)
        return rc;
    json_t *keys, *roles;
    if ((rc = cs_json_get_object(s, "keys", false, w.text, &keys, err)) < 0 ||
        (rc = cs_json_get_object(s, "roles", false, w.text, &roles, err)) < 0)
        return rc;
    if ((rc = parse_keys(keys, name, "keys", err)) < 0)
        return rc;
    static const char *const role_keys[] = {"root", "targets", "snapshot", "timestamp", NULL};
    if ((rc = cs_json_check_keys(roles, role_keys, at(&w, name, "roles"), err)) < 0)
        return rc;
    static const char *const role_fields[] = {"keyids", "threshold", NULL};
    for (int i = 0; i < 4; i++) {
        json_t *role = json_object_get(roles, cs_meta_role_names[i]);
        if (!role)
            return cs_error_set(err, EINVAL, "%s: 'roles' is missing the '%s' role", name,
                                cs_meta_role_names[i]);
        if ((rc = parse_role(role, keys, role_fields,
                             at(&w, name, "roles.%s", cs_meta_role_names[i]), err)) < 0)
            return rc;
    }
    return 0;
}

/* { "version", "sha256", "size" } naming a metadata file. */
static int parse_file_entry(json_t *entry, uint64_t max_size, const char *where, cs_error *err)
{
    if (!json_is_object(entry))
        return cs_error_set(err, EINVAL, "%s must be an object", where);
    static const char *const allowed[] = {"version", "sha256", "size", NULL};
    const char *hex;
    uint64_t v;
    int rc;
    if ((rc = cs_json_check_keys(entry, allowed, where, err)) < 0 ||
        (rc = get_uint(entry, "version", 1, CS_META_VERSION_MAX, where, &v, err)) < 0 ||
        (rc = get_hex(entry, "sha256", CS_SHA256_HEX_LEN, where, &hex, err)) < 0 ||
        (rc = get_uint(entry, "size", 1, max_size, where, &v, err)) < 0)
        return rc;
    return 0;
}

static int parse_timestamp(json_t *s, const char *name, cs_error *err)
{
    location w;
    int rc = cs_json_check_keys(s, signed_fields[CS_META_TIMESTAMP], at(&w, name, "signed"), err);
    if (rc < 0)
        return rc;
    json_t *snapshot;
    if ((rc = cs_json_get_object(s, "snapshot", false, w.text, &snapshot, err)) < 0)
        return rc;
    return parse_file_entry(snapshot, CS_META_SNAPSHOT_MAX, at(&w, name, "snapshot"), err);
}

bool cs_meta_role_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CS_META_NAME_MAX || strcmp(s, "targets") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    }
    return true;
}

/* "delegations/NAME.json" with a valid role name. */
static bool valid_delegated_file(const char *file)
{
    static const char prefix[] = "delegations/", suffix[] = ".json";
    size_t n = strlen(file), p = sizeof(prefix) - 1, q = sizeof(suffix) - 1;
    if (n <= p + q || strncmp(file, prefix, p) != 0 || strcmp(file + n - q, suffix) != 0)
        return false;
    char role[CS_META_NAME_MAX + 1];
    if (n - p - q > CS_META_NAME_MAX)
        return false;
    memcpy(role, file + p, n - p - q);
    role[n - p - q] = '\0';
    return cs_meta_role_name_valid(role);
}

static int parse_snapshot(json_t *s, const char *name, cs_error *err)
{
    location w;
    int rc = cs_json_check_keys(s, signed_fields[CS_META_SNAPSHOT], at(&w, name, "signed"), err);
    if (rc < 0)
        return rc;
    json_t *meta;
    if ((rc = cs_json_get_object(s, "meta", false, w.text, &meta, err)) < 0)
        return rc;
    size_t n = json_object_size(meta);
    if (n > CS_META_MAX_FILES)
        return cs_error_set(err, EINVAL, "%s: 'meta' lists %zu files, at most %d are allowed", name,
                            n, CS_META_MAX_FILES);
    if (!json_object_get(meta, "targets.json"))
        return cs_error_set(err, EINVAL, "%s: 'meta' does not list 'targets.json'", name);
    const char *file;
    json_t *entry;
    json_object_foreach(meta, file, entry)
    {
        at(&w, name, "meta['%s']", file);
        if (strcmp(file, "targets.json") != 0 && !valid_delegated_file(file))
            return cs_error_set(err, EINVAL,
                                "%s: the name is neither 'targets.json' nor "
                                "'delegations/ROLE.json' with a valid role name",
                                w.text);
        if ((rc = parse_file_entry(entry, CS_META_TARGETS_MAX, w.text, err)) < 0)
            return rc;
    }
    return 0;
}

/* { "sha256", "size" } naming a blob of at most max bytes. */
static int parse_blob(json_t *obj, const char *key, uint64_t max, const char *where, cs_error *err)
{
    json_t *blob;
    int rc = cs_json_get_object(obj, key, false, where, &blob, err);
    if (rc < 0)
        return rc;
    char inner[600];
    snprintf(inner, sizeof(inner), "%s.%s", where, key);
    static const char *const allowed[] = {"sha256", "size", NULL};
    const char *hex;
    uint64_t size;
    if ((rc = cs_json_check_keys(blob, allowed, inner, err)) < 0 ||
        (rc = get_hex(blob, "sha256", CS_SHA256_HEX_LEN, inner, &hex, err)) < 0 ||
        (rc = get_uint(blob, "size", 1, max, inner, &size, err)) < 0)
        return rc;
    return 0;
}

static int parse_target(json_t *target, const char *where, cs_error *err)
{
    if (!json_is_object(target))
        return cs_error_set(err, EINVAL, "%s must be an object", where);
    static const char *const allowed[] = {"index", "signature", "signer_key", "signer_key_id",
                                          NULL};
    const char *keyid;
    int rc;
    if ((rc = cs_json_check_keys(target, allowed, where, err)) < 0 ||
        (rc = parse_blob(target, "index", CS_INDEX_MAX_BYTES, where, err)) < 0 ||
        (rc = parse_blob(target, "signature", CS_SIGNATURE_MAX, where, err)) < 0 ||
        (rc = get_hex(target, "signer_key_id", CS_KEY_ID_HEX_LEN, where, &keyid, err)) < 0)
        return rc;
    if (json_object_get(target, "signer_key") &&
        (rc = parse_blob(target, "signer_key", CS_KEY_FILE_MAX, where, err)) < 0)
        return rc;
    return 0;
}

bool cs_meta_channel_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CS_META_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
        if (!alnum && (i == 0 || !(s[i] == '.' || s[i] == '_' || s[i] == '-')))
            return false;
    }
    return true;
}

static int parse_app(const char *id, json_t *app, const char *name, cs_error *err)
{
    location w;
    at(&w, name, "targets['%s']", id);
    cs_error inner = {0};
    if (cs_app_id_check(id, &inner) < 0)
        return cs_error_set(err, EINVAL, "%s: %s", w.text, inner.message);
    if (!json_is_object(app))
        return cs_error_set(err, EINVAL, "%s must be an object", w.text);
    static const char *const allowed[] = {"channels", "versions", NULL};
    json_t *channels, *versions;
    int rc;
    if ((rc = cs_json_check_keys(app, allowed, w.text, err)) < 0 ||
        (rc = cs_json_get_object(app, "channels", false, w.text, &channels, err)) < 0 ||
        (rc = cs_json_get_object(app, "versions", false, w.text, &versions, err)) < 0)
        return rc;

    size_t n = json_object_size(versions);
    if (n == 0 || n > CS_META_MAX_VERSIONS)
        return cs_error_set(err, EINVAL, "%s: 'versions' lists %zu versions, expected 1 to %d",
                            w.text, n, CS_META_MAX_VERSIONS);
    const char *key;
    json_t *value;
    json_object_foreach(versions, key, value)
    {
        location vw;
        at(&vw, name, "targets['%s'].versions['%s']", id, key);
        if (!cs_semver_valid(key))
            return cs_error_set(err, EINVAL, "%s: the version is not a semantic version", vw.text);
        if ((rc = parse_target(value, vw.text, err)) < 0)
            return rc;
    }

    n = json_object_size(channels);
    if (n > CS_META_MAX_CHANNELS)
        return cs_error_set(err, EINVAL, "%s: 'channels' lists %zu channels, at most %d", w.text, n,
                            CS_META_MAX_CHANNELS);
    json_object_foreach(channels, key, value)
    {
        if (!cs_meta_channel_name_valid(key))
            return cs_error_set(err, EINVAL,
                                "%s: channel name '%s' is invalid (1 to %d bytes of a-z, 0-9, "
                                "'.', '_' and '-', starting with a letter or digit)",
                                w.text, key, CS_META_NAME_MAX);
        const char *version = json_string_value(value);
        if (!version)
            return cs_error_set(err, EINVAL, "%s: channel '%s' must be a version string", w.text,
                                key);
        if (!json_object_get(versions, version))
            return cs_error_set(err, EINVAL,
                                "%s: channel '%s' points to version '%s', which 'versions' does "
                                "not list",
                                w.text, key, version);
    }
    return 0;
}

bool cs_meta_pattern_valid(const char *pattern)
{
    size_t n = strlen(pattern);
    char id[CS_APP_ID_MAX + 8];
    if (n >= 2 && strcmp(pattern + n - 2, ".*") == 0) {
        /* The prefix may be a single label ("com.*"), so check it as part of
         * an id with one more label. */
        if (n - 2 + 2 > CS_APP_ID_MAX)
            return false;
        snprintf(id, sizeof(id), "%.*s.x", (int)(n - 2), pattern);
        return cs_app_id_check(id, NULL) == 0;
    }
    return cs_app_id_check(pattern, NULL) == 0;
}

static int parse_delegations(json_t *delegations, const char *name, cs_error *err)
{
    location w;
    static const char *const allowed[] = {"keys", "roles", NULL};
    json_t *keys, *roles;
    int rc;
    if ((rc = cs_json_check_keys(delegations, allowed, at(&w, name, "delegations"), err)) < 0 ||
        (rc = cs_json_get_object(delegations, "keys", false, w.text, &keys, err)) < 0 ||
        (rc = cs_json_get_array(delegations, "roles", false, w.text, &roles, err)) < 0)
        return rc;
    if ((rc = parse_keys(keys, name, "delegations.keys", err)) < 0)
        return rc;
    size_t n = json_array_size(roles);
    if (n > CS_META_MAX_DELEGATIONS)
        return cs_error_set(err, EINVAL, "%s: 'roles' lists %zu roles, at most %d", w.text, n,
                            CS_META_MAX_DELEGATIONS);

    static const char *const role_fields[] = {"name", "keyids", "threshold", "patterns", NULL};
    for (size_t i = 0; i < n; i++) {
        json_t *role = json_array_get(roles, i);
        at(&w, name, "delegations.roles[%zu]", i);
        if ((rc = parse_role(role, keys, role_fields, w.text, err)) < 0)
            return rc;
        const char *role_name;
        json_t *patterns;
        if ((rc = cs_json_get_string(role, "name", false, w.text, &role_name, err)) < 0 ||
            (rc = cs_json_get_array(role, "patterns", false, w.text, &patterns, err)) < 0)
            return rc;
        if (!cs_meta_role_name_valid(role_name))
            return cs_error_set(err, EINVAL,
                                "%s: role name '%s' is invalid (1 to %d bytes of a-z, 0-9 and "
                                "'-', not 'targets')",
                                w.text, role_name, CS_META_NAME_MAX);
        for (size_t j = 0; j < i; j++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(roles, j), "name"));
            if (strcmp(other, role_name) == 0)
                return cs_error_set(err, EINVAL, "%s: role name '%s' is used twice", w.text,
                                    role_name);
        }
        size_t np = json_array_size(patterns);
        if (np == 0 || np > CS_META_MAX_PATTERNS)
            return cs_error_set(err, EINVAL, "%s: 'patterns' lists %zu patterns, expected 1 to %d",
                                w.text, np, CS_META_MAX_PATTERNS);
        for (size_t j = 0; j < np; j++) {
            const char *pattern = json_string_value(json_array_get(patterns, j));
            if (!pattern || !cs_meta_pattern_valid(pattern))
                return cs_error_set(err, EINVAL,
                                    "%s: patterns[%zu] is not an app id or an app id followed by "
                                    "'.*'",
                                    w.text, j);
        }
    }
    return 0;
}

static const char *find_delegation(json_t *signed_part, const char *app_id);

static int parse_targets(json_t *s, const char *name, cs_error *err)
{
    location w;
    int rc = cs_json_check_keys(s, signed_fields[CS_META_TARGETS], at(&w, name, "signed"), err);
    if (rc < 0)
        return rc;
    json_t *targets, *delegations;
    if ((rc = cs_json_get_object(s, "targets", false, w.text, &targets, err)) < 0 ||
        (rc = cs_json_get_object(s, "delegations", true, w.text, &delegations, err)) < 0)
        return rc;
    size_t n = json_object_size(targets);
    if (n > CS_META_MAX_APPS)
        return cs_error_set(err, EINVAL, "%s: 'targets' lists %zu apps, at most %d", name, n,
                            CS_META_MAX_APPS);
    if (delegations && (rc = parse_delegations(delegations, name, err)) < 0)
        return rc;

    const char *id;
    json_t *app;
    json_object_foreach(targets, id, app)
    {
        if ((rc = parse_app(id, app, name, err)) < 0)
            return rc;
        const char *role = find_delegation(s, id);
        if (role)
            return cs_error_set(err, EINVAL,
                                "%s: app '%s' is delegated to role '%s', so only that role's "
                                "metadata may list it",
                                name, id, role);
    }
    return 0;
}

static int parse_signatures(json_t *doc, cs_meta *meta, cs_error *err)
{
    location w;
    json_t *sigs;
    int rc = cs_json_get_array(doc, "signatures", false, meta->name, &sigs, err);
    if (rc < 0)
        return rc;
    size_t n = json_array_size(sigs);
    if (n == 0 || n > CS_META_MAX_SIGNATURES)
        return cs_error_set(err, EINVAL, "%s: 'signatures' lists %zu signatures, expected 1 to %d",
                            meta->name, n, CS_META_MAX_SIGNATURES);
    meta->signatures = calloc(n, sizeof(*meta->signatures));
    if (!meta->signatures)
        return cs_error_set(err, ENOMEM, "out of memory");
    static const char *const allowed[] = {"keyid", "sig", NULL};
    for (size_t i = 0; i < n; i++) {
        json_t *entry = json_array_get(sigs, i);
        at(&w, meta->name, "signatures[%zu]", i);
        if (!json_is_object(entry))
            return cs_error_set(err, EINVAL, "%s must be an object", w.text);
        const char *keyid, *sig;
        if ((rc = cs_json_check_keys(entry, allowed, w.text, err)) < 0 ||
            (rc = get_hex(entry, "keyid", CS_KEY_ID_HEX_LEN, w.text, &keyid, err)) < 0 ||
            (rc = get_hex(entry, "sig", 2 * CS_ED25519_SIG_LEN, w.text, &sig, err)) < 0)
            return rc;
        memcpy(meta->signatures[i].keyid, keyid, CS_KEY_ID_HEX_LEN + 1);
        cs_hex_decode(sig, meta->signatures[i].sig, CS_ED25519_SIG_LEN);
        meta->nsignatures++;
    }
    return 0;
}

/* Report an unknown field of "signed", with the nearest known one, before
 * parse_common reports the field that a typo left missing. A file of another
 * type is left to parse_common, which names both types. */
static int check_signed_fields(const cs_meta *meta, cs_meta_type expected, cs_error *err)
{
    const char *type = json_string_value(json_object_get(meta->signed_part, "type"));
    if (type && strcmp(type, cs_meta_role_names[expected]) != 0)
        return 0;
    location w;
    return cs_json_check_keys(meta->signed_part, signed_fields[expected],
                              at(&w, meta->name, "signed"), err);
}

static int parse_common(cs_meta *meta, cs_meta_type expected, cs_error *err)
{
    location w;
    json_t *s = meta->signed_part;
    at(&w, meta->name, "signed");
    const char *type, *format, *expires;
    int rc;
    if ((rc = cs_json_get_string(s, "type", false, w.text, &type, err)) < 0 ||
        (rc = cs_json_get_string(s, "format", false, w.text, &format, err)) < 0 ||
        (rc = cs_json_get_string(s, "expires", false, w.text, &expires, err)) < 0 ||
        (rc = get_uint(s, "version", 1, CS_META_VERSION_MAX, w.text, &meta->version, err)) < 0)
        return rc;
    if (strcmp(type, cs_meta_role_names[expected]) != 0)
        return cs_error_set(err, EINVAL, "%s: field 'type' is '%s', expected '%s'", w.text, type,
                            cs_meta_role_names[expected]);
    if (strcmp(format, CS_META_FORMAT) != 0)
        return cs_error_set(err, EINVAL, "%s: field 'format' is '%s', expected '%s'", w.text,
                            format, CS_META_FORMAT);
    if (!parse_time(expires, &meta->expires))
        return cs_error_set(err, EINVAL,
                            "%s: field 'expires' is '%s', expected a UTC time "
                            "YYYY-MM-DDTHH:MM:SSZ",
                            w.text, expires);
    return 0;
}

int cs_meta_parse(const void *data, size_t len, cs_meta_type expected, const char *name,
                  cs_meta **out, cs_error *err)
{
    static const size_t max[4] = {CS_META_ROOT_MAX, CS_META_TARGETS_MAX, CS_META_SNAPSHOT_MAX,
                                  CS_META_TIMESTAMP_MAX};
    *out = NULL;
    if ((unsigned)expected > CS_META_TIMESTAMP)
        return cs_error_set(err, EINVAL, "%s: unknown metadata type %d", name, (int)expected);
    if (len > max[expected])
        return cs_error_set(err, EFBIG,
                            "%s: %zu bytes exceed the limit of %zu bytes for %s "
                            "metadata",
                            name, len, max[expected], cs_meta_role_names[expected]);

    cs_meta *meta = calloc(1, sizeof(*meta));
    if (!meta)
        return cs_error_set(err, ENOMEM, "out of memory");
    meta->type = expected;
    snprintf(meta->name, sizeof(meta->name), "%s", name);
    uint8_t digest[CS_SHA256_LEN];
    cs_sha256(data, len, digest);
    cs_hex_encode(digest, sizeof(digest), meta->file_hash.sha256);
    meta->file_hash.size = len;

    static const char *const top[] = {"signatures", "signed", NULL};
    static int (*const parse_role_content[4])(json_t *, const char *, cs_error *) = {
        parse_root, parse_targets, parse_snapshot, parse_timestamp};
    int rc;
    if ((rc = cs_json_parse(data, len, meta->name, &meta->document, err)) < 0)
        goto fail;
    if (!json_is_object(meta->document)) {
        rc = cs_error_set(err, EINVAL, "%s: the document must be a JSON object", meta->name);
        goto fail;
    }
    if ((rc = cs_json_check_keys(meta->document, top, meta->name, err)) < 0 ||
        (rc = cs_json_get_object(meta->document, "signed", false, meta->name, &meta->signed_part,
                                 err)) < 0 ||
        (rc = check_values(meta->signed_part, meta->name, "signed", 0, err)) < 0 ||
        (rc = parse_signatures(meta->document, meta, err)) < 0 ||
        (rc = check_signed_fields(meta, expected, err)) < 0 ||
        (rc = parse_common(meta, expected, err)) < 0 ||
        (rc = parse_role_content[expected](meta->signed_part, meta->name, err)) < 0)
        goto fail;

    meta->canonical = cs_meta_canonical(meta->signed_part, &meta->canonical_len);
    if (!meta->canonical) {
        rc = cs_error_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    *out = meta;
    return 0;

fail:
    cs_meta_free(meta);
    return rc;
}

void cs_meta_free(cs_meta *meta)
{
    if (!meta)
        return;
    json_decref(meta->document);
    free(meta->signatures);
    free(meta->canonical);
    free(meta);
}

int cs_meta_load(const char *path, cs_meta_type expected, size_t max, cs_meta **out, cs_error *err)
{
    cs_autofree uint8_t *data = NULL;
    size_t len;
    int rc = cs_read_file_at(AT_FDCWD, path, max, true, &data, &len, err);
    if (rc < 0)
        return rc;
    return cs_meta_parse(data, len, expected, path, out, err);
}

cs_meta_type cs_meta_get_type(const cs_meta *meta)
{
    return meta->type;
}

const char *cs_meta_name(const cs_meta *meta)
{
    return meta->name;
}

uint64_t cs_meta_version(const cs_meta *meta)
{
    return meta->version;
}

time_t cs_meta_expires(const cs_meta *meta)
{
    return meta->expires;
}

const cs_meta_hashed *cs_meta_file_hash(const cs_meta *meta)
{
    return &meta->file_hash;
}

const json_t *cs_meta_signed(const cs_meta *meta)
{
    return meta->signed_part;
}

char *cs_meta_canonical(const json_t *signed_object, size_t *len)
{
    char *text = json_dumps(signed_object, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        *len = strlen(text);
    return text;
}

static void fill_file(const char *name, json_t *entry, cs_meta_file *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->version = (uint64_t)json_integer_value(json_object_get(entry, "version"));
    snprintf(out->hash.sha256, sizeof(out->hash.sha256), "%s",
             json_string_value(json_object_get(entry, "sha256")));
    out->hash.size = (uint64_t)json_integer_value(json_object_get(entry, "size"));
}

int cs_meta_find_file(const cs_meta *meta, const char *name, cs_meta_file *out, cs_error *err)
{
    json_t *entry = NULL;
    if (meta->type == CS_META_TIMESTAMP && strcmp(name, "snapshot.json") == 0)
        entry = json_object_get(meta->signed_part, "snapshot");
    else if (meta->type == CS_META_SNAPSHOT)
        entry = json_object_get(json_object_get(meta->signed_part, "meta"), name);
    if (!entry)
        return cs_error_set(err, ENOENT, "%s does not list '%s'", meta->name, name);
    fill_file(name, entry, out);
    return 0;
}

bool cs_meta_pattern_match(const char *pattern, const char *app_id)
{
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, ".*") == 0) {
        /* "com.acme.*" matches "com.acme.x...", never "com.acme" itself. */
        return strncmp(app_id, pattern, n - 1) == 0 && app_id[n - 1] != '\0';
    }
    return strcmp(pattern, app_id) == 0;
}

/* Name of the first delegated role of a targets "signed" object whose patterns
 * match app_id, or NULL. */
static const char *find_delegation(json_t *signed_part, const char *app_id)
{
    json_t *roles = json_object_get(json_object_get(signed_part, "delegations"), "roles");
    size_t i;
    json_t *role;
    json_array_foreach(roles, i, role)
    {
        size_t j;
        json_t *pattern;
        json_array_foreach(json_object_get(role, "patterns"), j, pattern)
        {
            if (cs_meta_pattern_match(json_string_value(pattern), app_id))
                return json_string_value(json_object_get(role, "name"));
        }
    }
    return NULL;
}

const char *cs_meta_delegation_for(const cs_meta *targets, const char *app_id)
{
    return find_delegation(targets->signed_part, app_id);
}

bool cs_meta_delegation_allows(const cs_meta *targets, const char *role, const char *app_id)
{
    const char *owner = cs_meta_delegation_for(targets, app_id);
    return owner && strcmp(owner, role) == 0;
}

static void fill_hashed(json_t *blob, cs_meta_hashed *out)
{
    snprintf(out->sha256, sizeof(out->sha256), "%s",
             json_string_value(json_object_get(blob, "sha256")));
    out->size = (uint64_t)json_integer_value(json_object_get(blob, "size"));
}

/* The role whose file name is name: "targets" unless the file is in a
 * "delegations" folder, as "delegations/acme.json" or the versioned
 * "delegations/3.acme.json" (role "acme"). */
static void role_from_name(const char *name, char *out, size_t size)
{
    const char *base = strrchr(name, '/');
    static const char folder[] = "delegations/";
    size_t n = sizeof(folder) - 1;
    if (!base || (size_t)(base + 1 - name) < n || strncmp(base + 1 - n, folder, n) != 0) {
        snprintf(out, size, "targets");
        return;
    }
    base++;
    const char *p = base;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p != base && *p == '.')
        base = p + 1;
    snprintf(out, size, "%.*s", (int)strcspn(base, "."), base);
}

int cs_meta_find_target(const cs_meta *targets, const char *app_id, const char *channel,
                        const char *version, cs_meta_target *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (targets->type != CS_META_TARGETS)
        return cs_error_set(err, EINVAL, "%s is not targets metadata", targets->name);
    json_t *app = json_object_get(json_object_get(targets->signed_part, "targets"), app_id);
    if (!app)
        return cs_error_set(err, ENOENT, "%s does not list app '%s'", targets->name, app_id);
    if (!version) {
        if (!channel)
            return cs_error_set(err, EINVAL, "no channel and no version given for app '%s'",
                                app_id);
        version = json_string_value(json_object_get(json_object_get(app, "channels"), channel));
        if (!version)
            return cs_error_set(err, ENOENT, "%s: app '%s' has no version on channel '%s'",
                                targets->name, app_id, channel);
    }
    json_t *target = json_object_get(json_object_get(app, "versions"), version);
    if (!target)
        return cs_error_set(err, ENOENT, "%s: app '%s' has no version '%s'", targets->name, app_id,
                            version);

    snprintf(out->app_id, sizeof(out->app_id), "%s", app_id);
    snprintf(out->version, sizeof(out->version), "%s", version);
    fill_hashed(json_object_get(target, "index"), &out->index);
    fill_hashed(json_object_get(target, "signature"), &out->signature);
    json_t *signer_key = json_object_get(target, "signer_key");
    if (signer_key) {
        out->has_signer_key = true;
        fill_hashed(signer_key, &out->signer_key);
    }
    snprintf(out->signer_key_id, sizeof(out->signer_key_id), "%s",
             json_string_value(json_object_get(target, "signer_key_id")));
    role_from_name(targets->name, out->role, sizeof(out->role));
    return 0;
}
