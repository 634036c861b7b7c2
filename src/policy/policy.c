#include "policy/policy.h"

#include "bus/broker.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "package/manifest.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLICY_FILE_MAX (1024 * 1024)

static int check_app_entry(const char *path, const char *id, json_t *entry, cs_error *err)
{
    char where[512];
    snprintf(where, sizeof(where), "%s: apps.%s", path, id);
    if (!json_is_object(entry))
        return cs_error_set(err, EINVAL, "%s must be an object", where);
    static const char *const keys[] = {"fs", "limits", "bus", NULL};
    int rc = cs_json_check_keys(entry, keys, where, err);
    if (rc < 0)
        return rc;
    json_t *fs = json_object_get(entry, "fs");
    if (fs) {
        if (!json_is_array(fs))
            return cs_error_set(err, EINVAL, "%s.fs must be an array", where);
        size_t i;
        json_t *grant;
        json_array_foreach(fs, i, grant)
        {
            char gwhere[600];
            snprintf(gwhere, sizeof(gwhere), "%s.fs[%zu]", where, i);
            static const char *const gkeys[] = {"path", "access", NULL};
            if (!json_is_object(grant))
                return cs_error_set(err, EINVAL, "%s must be an object", gwhere);
            const char *gpath, *access;
            if ((rc = cs_json_check_keys(grant, gkeys, gwhere, err)) < 0 ||
                (rc = cs_json_get_string(grant, "path", false, gwhere, &gpath, err)) < 0 ||
                (rc = cs_json_get_string(grant, "access", false, gwhere, &access, err)) < 0)
                return rc;
            if (gpath[0] != '/' && strncmp(gpath, "~/", 2) != 0)
                return cs_error_set(err, EINVAL,
                                    "%s.path: '%s' must be absolute or start with '~/'", gwhere,
                                    gpath);
            if (strstr(gpath, "/../") || strstr(gpath, "/./") ||
                (strlen(gpath) >= 3 && strcmp(gpath + strlen(gpath) - 3, "/..") == 0))
                return cs_error_set(err, EINVAL, "%s.path: '%s' contains '.' or '..'", gwhere,
                                    gpath);
            if (strcmp(access, "read") != 0 && strcmp(access, "read-write") != 0)
                return cs_error_set(err, EINVAL, "%s.access: '%s' must be 'read' or 'read-write'",
                                    gwhere, access);
        }
    }
    json_t *bus = json_object_get(entry, "bus");
    if (bus) {
        char bwhere[600];
        snprintf(bwhere, sizeof(bwhere), "%s.bus", where);
        if (!json_is_object(bus))
            return cs_error_set(err, EINVAL, "%s must be an object", bwhere);
        static const char *const bkeys[] = {"publish", "subscribe", NULL};
        if ((rc = cs_json_check_keys(bus, bkeys, bwhere, err)) < 0)
            return rc;
        const char *key;
        json_t *list;
        json_object_foreach(bus, key, list)
        {
            size_t i;
            json_t *item;
            if (!json_is_array(list))
                return cs_error_set(err, EINVAL, "%s.%s must be an array of topic patterns", bwhere,
                                    key);
            json_array_foreach(list, i, item)
            {
                if (!json_is_string(item) || json_string_length(item) == 0 ||
                    json_string_length(item) > 256)
                    return cs_error_set(err, EINVAL, "%s.%s[%zu] must be a topic pattern", bwhere,
                                        key, i);
            }
        }
    }
    json_t *limits = json_object_get(entry, "limits");
    if (limits) {
        char lwhere[600];
        snprintf(lwhere, sizeof(lwhere), "%s.limits", where);
        if (!json_is_object(limits))
            return cs_error_set(err, EINVAL, "%s must be an object", lwhere);
        static const char *const lkeys[] = {"memory_mb", "processes", "cpu_percent", NULL};
        if ((rc = cs_json_check_keys(limits, lkeys, lwhere, err)) < 0)
            return rc;
        const char *key;
        json_t *value;
        json_object_foreach(limits, key, value)
        {
            if (!json_is_integer(value) || json_integer_value(value) < 1 ||
                json_integer_value(value) > 1048576)
                return cs_error_set(err, EINVAL, "%s.%s must be an integer from 1 to 1048576",
                                    lwhere, key);
        }
    }
    return 0;
}

int cs_policy_load(cs_policy *policy, const char *path, bool missing_ok, cs_error *err)
{
    memset(policy, 0, sizeof(*policy));
    if (missing_ok && access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file(path, POLICY_FILE_MAX, &data, &len, err);
    if (rc < 0)
        return cs_error_prefix(err, "policy");
    json_t *root = NULL;
    rc = cs_json_parse(data, len, path, &root, err);
    free(data);
    if (rc < 0)
        return rc;
    static const char *const keys[] = {"developer_mode", "apps", NULL};
    if (!json_is_object(root)) {
        rc = cs_error_set(err, EINVAL, "%s: the top level must be an object", path);
    } else if ((rc = cs_json_check_keys(root, keys, path, err)) == 0) {
        json_t *dev = json_object_get(root, "developer_mode");
        json_t *apps = json_object_get(root, "apps");
        if (dev && !json_is_boolean(dev))
            rc = cs_error_set(err, EINVAL, "%s: field 'developer_mode' must be a boolean", path);
        else if (apps && !json_is_object(apps))
            rc = cs_error_set(err, EINVAL, "%s: field 'apps' must be an object", path);
        const char *id;
        json_t *entry;
        if (rc == 0 && apps) {
            json_object_foreach(apps, id, entry)
            {
                if (cs_app_id_check(id, NULL) < 0 && strcmp(id, "*") != 0) {
                    rc = cs_error_set(err, EINVAL, "%s: apps: '%s' is not an app id or '*'", path,
                                      id);
                    break;
                }
                if ((rc = check_app_entry(path, id, entry, err)) < 0)
                    break;
            }
        }
    }
    if (rc < 0) {
        json_decref(root);
        return rc;
    }
    policy->root = root;
    policy->path = strdup(path);
    return 0;
}

void cs_policy_free(cs_policy *policy)
{
    json_decref(policy->root);
    free(policy->path);
    memset(policy, 0, sizeof(*policy));
}

bool cs_policy_developer_mode(const cs_policy *policy)
{
    if (!policy->root)
        return true;
    return json_is_true(json_object_get(policy->root, "developer_mode"));
}

static json_t *app_entry(const cs_policy *policy, const char *app_id)
{
    json_t *apps = policy->root ? json_object_get(policy->root, "apps") : NULL;
    json_t *entry = apps ? json_object_get(apps, app_id) : NULL;
    return entry ? entry : (apps ? json_object_get(apps, "*") : NULL);
}

static void expand(const char *path, const char *home, char *out, size_t size)
{
    if (strncmp(path, "~/", 2) == 0 || strcmp(path, "~") == 0)
        snprintf(out, size, "%s%s", home ? home : "/nonexistent", path + 1);
    else
        snprintf(out, size, "%s", path);
}

/* True when path is base or below it. */
static bool is_within(const char *path, const char *base)
{
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int cs_policy_fs_grants(const cs_policy *policy, const char *app_id, json_t *requests,
                        const char *home, cs_policy_fs_decision *decisions, size_t max,
                        size_t *count, cs_error *err)
{
    *count = 0;
    json_t *entry = app_entry(policy, app_id);
    json_t *grants = entry ? json_object_get(entry, "fs") : NULL;
    size_t i;
    json_t *request;
    json_array_foreach(requests, i, request)
    {
        if (*count >= max)
            return cs_error_set(err, E2BIG, "more than %zu file-system requests", max);
        const char *raw = json_string_value(json_object_get(request, "path"));
        bool want_write =
            strcmp(json_string_value(json_object_get(request, "access")), "read-write") == 0;
        if (strncmp(raw, "${APP_DATA}", 11) == 0)
            continue;
        cs_policy_fs_decision *d = &decisions[(*count)++];
        memset(d, 0, sizeof(*d));
        d->requested_write = want_write;
        expand(raw, home, d->path, sizeof(d->path));

        size_t j;
        json_t *grant;
        json_array_foreach(grants, j, grant)
        {
            char granted[1024];
            expand(json_string_value(json_object_get(grant, "path")), home, granted,
                   sizeof(granted));
            if (!is_within(d->path, granted))
                continue;
            bool grant_write =
                strcmp(json_string_value(json_object_get(grant, "access")), "read-write") == 0;
            d->granted = true;
            d->writable = d->writable || (want_write && grant_write);
        }
        if (!d->granted)
            snprintf(d->reason, sizeof(d->reason), "not granted by policy %s",
                     policy->path ? policy->path : "(no policy file)");
        else if (want_write && !d->writable)
            snprintf(d->reason, sizeof(d->reason), "granted read-only by policy %s", policy->path);
        else
            snprintf(d->reason, sizeof(d->reason), "granted by policy %s", policy->path);
    }
    return 0;
}

int cs_policy_bus_grants(const cs_policy *policy, const char *app_id, const char *direction,
                         json_t *requested, char ***out, size_t *count, cs_error *err)
{
    *out = NULL;
    *count = 0;
    json_t *entry = app_entry(policy, app_id);
    json_t *bus = entry ? json_object_get(entry, "bus") : NULL;
    json_t *allowed = bus ? json_object_get(bus, direction) : NULL;
    size_t n = json_array_size(requested);
    char **list = calloc(n ? n : 1, sizeof(char *));
    if (!list)
        return cs_error_set(err, ENOMEM, "out of memory");
    size_t i;
    json_t *item;
    json_array_foreach(requested, i, item)
    {
        const char *pattern = json_string_value(item);
        bool keep = !bus;
        size_t j;
        json_t *grant;
        json_array_foreach(allowed, j, grant)
        {
            if (cs_bus_pattern_covered(json_string_value(grant), pattern))
                keep = true;
        }
        if (!keep)
            continue;
        if (!(list[*count] = strdup(pattern))) {
            cs_policy_free_patterns(list, *count);
            return cs_error_set(err, ENOMEM, "out of memory");
        }
        (*count)++;
    }
    *out = list;
    return 0;
}

void cs_policy_free_patterns(char **patterns, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(patterns[i]);
    free(patterns);
}

bool cs_policy_has_entry(const cs_policy *policy, const char *app_id)
{
    json_t *apps = policy->root ? json_object_get(policy->root, "apps") : NULL;
    return apps && json_object_get(apps, app_id) != NULL;
}

void cs_policy_limits(const cs_policy *policy, const char *app_id, cs_sandbox_limits *limits)
{
    limits->memory_bytes = CS_SANDBOX_DEFAULT_MEMORY;
    limits->max_pids = CS_SANDBOX_DEFAULT_PIDS;
    limits->cpu_percent = CS_SANDBOX_DEFAULT_CPU_PERCENT;
    json_t *entry = app_entry(policy, app_id);
    json_t *l = entry ? json_object_get(entry, "limits") : NULL;
    if (!l)
        return;
    json_t *v;
    if ((v = json_object_get(l, "memory_mb")))
        limits->memory_bytes = (uint64_t)json_integer_value(v) * 1024 * 1024;
    if ((v = json_object_get(l, "processes")))
        limits->max_pids = (uint64_t)json_integer_value(v);
    if ((v = json_object_get(l, "cpu_percent")))
        limits->cpu_percent = (unsigned)json_integer_value(v);
}

void cs_policy_update_settings(const cs_policy *policy, const char *app_id, const char *publisher,
                               cs_policy_update *out)
{
    (void)policy;
    (void)app_id;
    (void)publisher;
    memset(out, 0, sizeof(*out));
    snprintf(out->channel, sizeof(out->channel), "stable");
    out->rollout_percent = 100;
    out->grace_seconds = 60;
}

size_t cs_policy_repositories(const cs_policy *policy, cs_policy_repository *out, size_t max)
{
    (void)policy;
    (void)out;
    (void)max;
    return 0;
}
