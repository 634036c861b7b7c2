#include "package/manifest.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/path.h"
#include "package/semver.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define WHERE CS_MANIFEST_NAME

int cs_app_id_check(const char *id, cs_error *err)
{
    size_t len = strnlen(id, CS_APP_ID_MAX + 1);
    if (len == 0)
        return cs_error_set(err, EINVAL, "the app id is empty");
    if (len > CS_APP_ID_MAX)
        return cs_error_set(err, EINVAL, "the app id is longer than %d bytes", CS_APP_ID_MAX);

    int labels = 0;
    const char *p = id;
    while (*p) {
        const char *start = p;
        while (*p && *p != '.') {
            unsigned char c = (unsigned char)*p;
            if (isupper(c))
                return cs_error_set(err, EINVAL, "app id '%s' must be lowercase", id);
            if (!(islower(c) || isdigit(c) || c == '-'))
                return cs_error_set(err, EINVAL,
                                    "app id '%s' may only contain a-z, 0-9, '-' and '.'", id);
            p++;
        }
        size_t n = (size_t)(p - start);
        if (n == 0)
            return cs_error_set(err, EINVAL, "app id '%s' has an empty label", id);
        if (n > 63)
            return cs_error_set(err, EINVAL, "app id '%s' has a label longer than 63 bytes", id);
        if (start[0] == '-' || start[n - 1] == '-')
            return cs_error_set(err, EINVAL, "app id '%s' has a label that starts or ends with '-'",
                                id);
        if (labels == 0 && !islower((unsigned char)start[0]))
            return cs_error_set(err, EINVAL, "app id '%s' must start with a letter", id);
        labels++;
        if (*p == '.') {
            p++;
            if (*p == '\0')
                return cs_error_set(err, EINVAL, "app id '%s' ends with '.'", id);
        }
    }
    if (labels < 2)
        return cs_error_set(err, EINVAL,
                            "app id '%s' is not in reverse-DNS form (for example com.example.app)",
                            id);
    if (labels > 16)
        return cs_error_set(err, EINVAL, "app id '%s' has more than 16 labels", id);
    return 0;
}

static bool has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static int check_text(const char *field, const char *value, size_t max, cs_error *err)
{
    size_t len = strnlen(value, max + 1);
    if (len == 0)
        return cs_error_set(err, EINVAL, "%s: field '%s' is empty", WHERE, field);
    if (len > max)
        return cs_error_set(err, EINVAL, "%s: field '%s' is longer than %zu bytes", WHERE, field,
                            max);
    if (has_control_chars(value))
        return cs_error_set(err, EINVAL, "%s: field '%s' contains a control character", WHERE,
                            field);
    return 0;
}

static int check_package_path(const char *field, const char *value, cs_error *err)
{
    cs_error inner = {0};
    if (cs_path_check(value, &inner) < 0)
        return cs_error_set(err, EINVAL, "%s: field '%s': %s", WHERE, field, inner.message);
    if (cs_path_is_reserved(value))
        return cs_error_set(err, EINVAL,
                            "%s: field '%s': '%s' is inside the reserved folder .cashstory", WHERE,
                            field, value);
    return 0;
}

/* A file-system grant path: absolute, "~" or "~/...", or "${APP_DATA}" or
 * "${APP_DATA}/...", with no "." or ".." components and no empty components. */
static int check_grant_path(const char *field, const char *path, cs_error *err)
{
    if (strnlen(path, 1025) > 1024)
        return cs_error_set(err, EINVAL, "%s: %s: path is longer than 1024 bytes", WHERE, field);
    const char *rest;
    if (path[0] == '/')
        rest = path + 1;
    else if (strcmp(path, "~") == 0 || strncmp(path, "~/", 2) == 0)
        rest = path[1] ? path + 2 : "";
    else if (strcmp(path, "${APP_DATA}") == 0 || strncmp(path, "${APP_DATA}/", 12) == 0)
        rest = path[11] ? path + 12 : "";
    else
        return cs_error_set(err, EINVAL,
                            "%s: %s: '%s' must be absolute or start with '~/' or '${APP_DATA}/'",
                            WHERE, field, path);
    if (*rest == '\0')
        return 0;
    cs_error inner = {0};
    if (cs_path_check(rest, &inner) < 0)
        return cs_error_set(err, EINVAL, "%s: %s: %s", WHERE, field, inner.message);
    return 0;
}

static int check_fs(json_t *fs, cs_error *err)
{
    if (!json_is_array(fs))
        return cs_error_set(err, EINVAL, "%s: field 'permissions.fs' must be an array, not %s",
                            WHERE, cs_json_type_name(fs));
    size_t i;
    json_t *grant;
    json_array_foreach(fs, i, grant)
    {
        char where[128];
        snprintf(where, sizeof(where), "%s: field 'permissions.fs[%zu]'", WHERE, i);
        if (!json_is_object(grant))
            return cs_error_set(err, EINVAL, "%s must be an object, not %s", where,
                                cs_json_type_name(grant));
        static const char *const keys[] = {"path", "access", NULL};
        int rc = cs_json_check_keys(grant, keys, where, err);
        if (rc < 0)
            return rc;
        const char *path, *access;
        if ((rc = cs_json_get_string(grant, "path", false, where, &path, err)) < 0 ||
            (rc = cs_json_get_string(grant, "access", false, where, &access, err)) < 0)
            return rc;
        char field[64];
        snprintf(field, sizeof(field), "field 'permissions.fs[%zu].path'", i);
        rc = check_grant_path(field, path, err);
        if (rc < 0)
            return rc;
        if (strcmp(access, "read") != 0 && strcmp(access, "read-write") != 0)
            return cs_error_set(err, EINVAL, "%s.access: '%s' must be 'read' or 'read-write'",
                                where, access);
    }
    return 0;
}

/* Host pattern: an optional "*." prefix, a DNS name of letters, digits, '-'
 * and '.', and an optional ":port" (1-65535). */
bool cs_manifest_host_valid(const char *host)
{
    size_t len = strlen(host);
    if (len == 0 || len > 260)
        return false;
    const char *p = host;
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    const char *colon = strchr(p, ':');
    size_t name_len = colon ? (size_t)(colon - p) : strlen(p);
    if (name_len == 0 || name_len > 253 || p[0] == '.' || p[0] == '-' || p[name_len - 1] == '.')
        return false;
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '.'))
            return false;
        if (c == '.' && p[i + 1] == '.')
            return false;
    }
    if (colon) {
        const char *port = colon + 1;
        size_t digits = strspn(port, "0123456789");
        if (digits == 0 || digits > 5 || port[digits] != '\0' || port[0] == '0')
            return false;
        if (strtol(port, NULL, 10) > 65535)
            return false;
    }
    return true;
}

static int check_string_list(json_t *list, const char *field, bool (*valid)(const char *),
                             const char *expected, cs_error *err)
{
    if (!json_is_array(list))
        return cs_error_set(err, EINVAL, "%s: field '%s' must be an array, not %s", WHERE, field,
                            cs_json_type_name(list));
    if (json_array_size(list) > 1024)
        return cs_error_set(err, EINVAL, "%s: field '%s' has more than 1024 entries", WHERE, field);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (!json_is_string(item))
            return cs_error_set(err, EINVAL, "%s: field '%s[%zu]' must be a string, not %s", WHERE,
                                field, i, cs_json_type_name(item));
        const char *value = json_string_value(item);
        if (strlen(value) != json_string_length(item) || !valid(value))
            return cs_error_set(err, EINVAL, "%s: field '%s[%zu]': '%s' is not %s", WHERE, field, i,
                                value, expected);
    }
    return 0;
}

// Bus topic pattern: 1-256 bytes of letters, digits and "._-/", with '*' as a
// whole-segment wildcard, for example "quotes/*".
bool cs_manifest_topic_valid(const char *topic)
{
    size_t len = strlen(topic);
    if (len == 0 || len > 256 || topic[0] == '/' || topic[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (c == '*') {
            bool alone = (i == 0 || topic[i - 1] == '/') && (i + 1 == len || topic[i + 1] == '/');
            if (!alone)
                return false;
            continue;
        }
        if (c == '/' && topic[i + 1] == '/')
            return false;
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

static int check_permissions(json_t *perms, cs_error *err)
{
    static const char *const keys[] = {"fs", "net", "bus", NULL};
    int rc = cs_json_check_keys(perms, keys, WHERE ": field 'permissions'", err);
    if (rc < 0)
        return rc;
    json_t *fs = json_object_get(perms, "fs");
    if (fs && (rc = check_fs(fs, err)) < 0)
        return rc;
    json_t *net = json_object_get(perms, "net");
    if (net && (rc = check_string_list(net, "permissions.net", cs_manifest_host_valid,
                                       "a host name pattern like 'api.example.com', "
                                       "'*.example.com' or 'example.com:8443'",
                                       err)) < 0)
        return rc;
    json_t *bus = json_object_get(perms, "bus");
    if (bus) {
        if (!json_is_object(bus))
            return cs_error_set(err, EINVAL,
                                "%s: field 'permissions.bus' must be an object, not %s", WHERE,
                                cs_json_type_name(bus));
        static const char *const bus_keys[] = {"publish", "subscribe", NULL};
        rc = cs_json_check_keys(bus, bus_keys, WHERE ": field 'permissions.bus'", err);
        if (rc < 0)
            return rc;
        static const char *const topic_help =
            "a topic pattern (letters, digits, '.', '_', '-', '/' and whole-segment '*')";
        json_t *publish = json_object_get(bus, "publish");
        json_t *subscribe = json_object_get(bus, "subscribe");
        if (publish && (rc = check_string_list(publish, "permissions.bus.publish",
                                               cs_manifest_topic_valid, topic_help, err)) < 0)
            return rc;
        if (subscribe && (rc = check_string_list(subscribe, "permissions.bus.subscribe",
                                                 cs_manifest_topic_valid, topic_help, err)) < 0)
            return rc;
    }
    return 0;
}

static int check_window_size(json_t *win, const char *key, const char *where, cs_error *err)
{
    json_t *v = json_object_get(win, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return cs_error_set(err, EINVAL, "%s.%s must be an integer, not %s", where, key,
                            cs_json_type_name(v));
    json_int_t n = json_integer_value(v);
    if (n < 100 || n > 16384)
        return cs_error_set(err, EINVAL, "%s.%s: %lld is outside 100-16384 pixels", where, key,
                            (long long)n);
    return 0;
}

static int check_windows(json_t *windows, cs_error *err)
{
    if (!json_is_array(windows))
        return cs_error_set(err, EINVAL, "%s: field 'windows' must be an array, not %s", WHERE,
                            cs_json_type_name(windows));
    if (json_array_size(windows) > 64)
        return cs_error_set(err, EINVAL, "%s: field 'windows' has more than 64 entries", WHERE);
    size_t i;
    json_t *win;
    json_array_foreach(windows, i, win)
    {
        char where[128];
        snprintf(where, sizeof(where), "%s: field 'windows[%zu]'", WHERE, i);
        if (!json_is_object(win))
            return cs_error_set(err, EINVAL, "%s must be an object, not %s", where,
                                cs_json_type_name(win));
        static const char *const keys[] = {"id",     "url",       "title", "width",
                                           "height", "resizable", NULL};
        int rc = cs_json_check_keys(win, keys, where, err);
        if (rc < 0)
            return rc;
        const char *id, *url, *title;
        if ((rc = cs_json_get_string(win, "id", false, where, &id, err)) < 0 ||
            (rc = cs_json_get_string(win, "url", false, where, &url, err)) < 0 ||
            (rc = cs_json_get_string(win, "title", true, where, &title, err)) < 0)
            return rc;
        char field[64];
        snprintf(field, sizeof(field), "windows[%zu].id", i);
        if ((rc = check_text(field, id, 64, err)) < 0)
            return rc;
        snprintf(field, sizeof(field), "windows[%zu].url", i);
        if ((rc = check_package_path(field, url, err)) < 0)
            return rc;
        snprintf(field, sizeof(field), "windows[%zu].title", i);
        if (title && (rc = check_text(field, title, 256, err)) < 0)
            return rc;
        if ((rc = check_window_size(win, "width", where, err)) < 0 ||
            (rc = check_window_size(win, "height", where, err)) < 0)
            return rc;
        json_t *resizable = json_object_get(win, "resizable");
        if (resizable && !json_is_boolean(resizable))
            return cs_error_set(err, EINVAL, "%s.resizable must be a boolean, not %s", where,
                                cs_json_type_name(resizable));
    }
    return 0;
}

static bool valid_range_char(char c)
{
    return isalnum((unsigned char)c) || strchr(" <>=^~.-+*|x", c) != NULL;
}

int cs_manifest_parse(const void *data, size_t len, cs_manifest *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len > CS_MANIFEST_MAX)
        return cs_error_set(err, EFBIG, "%s: file is larger than %d bytes", WHERE, CS_MANIFEST_MAX);
    json_t *root = NULL;
    int rc = cs_json_parse(data, len, WHERE, &root, err);
    if (rc < 0)
        return rc;
    out->root = root;
    if (!json_is_object(root)) {
        rc = cs_error_set(err, EINVAL, "%s: the top level must be an object, not %s", WHERE,
                          cs_json_type_name(root));
        goto fail;
    }
    static const char *const keys[] = {"id",      "name",        "version", "main", "description",
                                       "runtime", "permissions", "windows", NULL};
    if ((rc = cs_json_check_keys(root, keys, WHERE, err)) < 0)
        goto fail;

    if ((rc = cs_json_get_string(root, "id", false, WHERE, &out->id, err)) < 0 ||
        (rc = cs_json_get_string(root, "name", false, WHERE, &out->name, err)) < 0 ||
        (rc = cs_json_get_string(root, "version", false, WHERE, &out->version, err)) < 0 ||
        (rc = cs_json_get_string(root, "main", false, WHERE, &out->main, err)) < 0 ||
        (rc = cs_json_get_string(root, "description", true, WHERE, &out->description, err)) < 0 ||
        (rc = cs_json_get_string(root, "runtime", true, WHERE, &out->runtime, err)) < 0)
        goto fail;

    cs_error inner = {0};
    if (cs_app_id_check(out->id, &inner) < 0) {
        rc = cs_error_set(err, EINVAL, "%s: field 'id': %s", WHERE, inner.message);
        goto fail;
    }
    if ((rc = check_text("name", out->name, CS_APP_NAME_MAX, err)) < 0)
        goto fail;
    if (!cs_semver_valid(out->version)) {
        rc = cs_error_set(err, EINVAL,
                          "%s: field 'version': '%s' is not a semantic version "
                          "(MAJOR.MINOR.PATCH, for example 1.2.3)",
                          WHERE, out->version);
        goto fail;
    }
    if ((rc = check_package_path("main", out->main, err)) < 0)
        goto fail;
    if (out->description && (rc = check_text("description", out->description, 4096, err)) < 0)
        goto fail;
    if (out->runtime) {
        size_t n = strlen(out->runtime);
        bool ok = n > 0 && n <= 64;
        for (size_t i = 0; ok && i < n; i++)
            ok = valid_range_char(out->runtime[i]);
        if (!ok || !cs_semver_range_valid(out->runtime)) {
            rc = cs_error_set(err, EINVAL,
                              "%s: field 'runtime': '%s' is not a version range (for example "
                              "'>=1.0.0 <2.0.0' or '^1.2')",
                              WHERE, out->runtime);
            goto fail;
        }
    }

    out->permissions = json_object_get(root, "permissions");
    if (out->permissions) {
        if (!json_is_object(out->permissions)) {
            rc = cs_error_set(err, EINVAL, "%s: field 'permissions' must be an object, not %s",
                              WHERE, cs_json_type_name(out->permissions));
            goto fail;
        }
        if ((rc = check_permissions(out->permissions, err)) < 0)
            goto fail;
    }
    out->windows = json_object_get(root, "windows");
    if (out->windows && (rc = check_windows(out->windows, err)) < 0)
        goto fail;
    return 0;

fail:
    cs_manifest_free(out);
    return rc;
}

void cs_manifest_free(cs_manifest *manifest)
{
    json_decref(manifest->root);
    memset(manifest, 0, sizeof(*manifest));
}

int cs_manifest_foreach_path(const cs_manifest *manifest,
                             int (*fn)(const char *field, const char *path, void *ctx), void *ctx)
{
    int rc = fn("main", manifest->main, ctx);
    if (rc < 0 || !manifest->windows)
        return rc;
    size_t i;
    json_t *win;
    json_array_foreach(manifest->windows, i, win)
    {
        char field[64];
        snprintf(field, sizeof(field), "windows[%zu].url", i);
        rc = fn(field, json_string_value(json_object_get(win, "url")), ctx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cs_manifest_load(int dirfd, const char *dir, cs_manifest *out, cs_error *err)
{
    char path[PATH_MAX + 32];
    if (dir)
        snprintf(path, sizeof(path), "%s/%s", dir, CS_MANIFEST_NAME);
    else
        snprintf(path, sizeof(path), "%s", CS_MANIFEST_NAME);
    cs_autofree uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file_at(dirfd, path, CS_MANIFEST_MAX, true, &data, &len, err);
    return rc < 0 ? rc : cs_manifest_parse(data, len, out, err);
}
