/* Reading and validating policy files. */
#include "policy/internal.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "crypto/trust.h"
#include "package/manifest.h"
#include "package/semver.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cs_policy_location(const char *explicit_location, bool *missing_ok)
{
    if (explicit_location && *explicit_location) {
        *missing_ok = false;
        return explicit_location;
    }
    const char *env = getenv("CASHSTORY_POLICY");
    if (env && *env) {
        *missing_ok = false;
        return env;
    }
    *missing_ok = true;
    return CS_POLICY_DEFAULT_DIR;
}

static int add_problem(cs_policy *p, const char *file, const char *message, bool ignored)
{
    cs_policy_problem *list = realloc(p->problems, (p->nproblems + 1) * sizeof(*list));
    if (!list)
        return -ENOMEM;
    p->problems = list;
    cs_policy_problem *pr = &list[p->nproblems];
    pr->file = strdup(file);
    pr->message = strdup(message);
    pr->ignored = ignored;
    if (!pr->file || !pr->message) {
        free(pr->file);
        free(pr->message);
        return -ENOMEM;
    }
    p->nproblems++;
    return 0;
}

static int add_broken(cs_policy *p, cs_policy_file *f, char kind, const char *key,
                      const char *error)
{
    cs_policy_broken *list = realloc(f->broken, (f->nbroken + 1) * sizeof(*list));
    if (!list)
        return -ENOMEM;
    f->broken = list;
    cs_policy_broken *b = &list[f->nbroken];
    b->kind = kind;
    b->key = key ? strdup(key) : NULL;
    b->error = strdup(error);
    if ((key && !b->key) || !b->error) {
        free(b->key);
        free(b->error);
        return -ENOMEM;
    }
    f->nbroken++;
    return add_problem(p, f->path, error, false);
}

/* ---- Validation of one file ---- */

bool cs_policy_id_pattern_valid(const char *pattern)
{
    if (strcmp(pattern, "*") == 0)
        return true;
    size_t len = strlen(pattern);
    if (len > 2 && strcmp(pattern + len - 2, ".*") == 0) {
        for (size_t i = 0; i < len - 2; i++) {
            unsigned char c = (unsigned char)pattern[i];
            if (!(isalnum(c) || c == '.' || c == '-' || c == '_'))
                return false;
        }
        return pattern[0] != '.' && pattern[len - 3] != '.';
    }
    return cs_app_id_check(pattern, NULL) == 0;
}

bool cs_policy_publisher_valid(const char *selector)
{
    size_t len = strlen(selector);
    if (len == 0 || len > 511)
        return false;
    if (len == 64 && strspn(selector, "0123456789abcdef") == 64)
        return true;
    /* Otherwise an RFC 2253 certificate subject such as "CN=Example,O=Corp". */
    return strchr(selector, '=') != NULL;
}

static bool valid_name(const char *name, size_t max)
{
    size_t len = strlen(name);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool valid_clock(const char *s)
{
    return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && s[2] == ':' &&
           isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]) &&
           (s[0] - '0') * 10 + (s[1] - '0') < 24 && (s[3] - '0') * 10 + (s[4] - '0') < 60;
}

bool cs_policy_window_valid(const char *window)
{
    return strlen(window) == 11 && valid_clock(window) && window[5] == '-' &&
           valid_clock(window + 6);
}

/* A policy path: absolute, "~", "~/...", or "${APP_DATA}" and below, with
 * no "." or ".." segment. */
static bool valid_policy_path(const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || len > 1000)
        return false;
    const char *rest;
    if (path[0] == '/')
        rest = path;
    else if (strcmp(path, "~") == 0 || strncmp(path, "~/", 2) == 0)
        rest = path + 1;
    else if (strncmp(path, "${APP_DATA}", 11) == 0 && (path[11] == '\0' || path[11] == '/'))
        rest = path + 11;
    else
        return false;
    for (const char *seg = rest; *seg;) {
        while (*seg == '/')
            seg++;
        size_t n = strcspn(seg, "/");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        seg += n;
    }
    return true;
}

static int check_string_array(json_t *list, const char *where, bool (*valid)(const char *),
                              const char *what, cs_error *err)
{
    if (!json_is_array(list))
        return cs_error_set(err, EINVAL, "%s must be an array of %s, not %s", where, what,
                            cs_json_type_name(list));
    if (json_array_size(list) > 4096)
        return cs_error_set(err, E2BIG, "%s has more than 4096 entries", where);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (!json_is_string(item) || !valid(json_string_value(item)))
            return cs_error_set(
                err, EINVAL, "%s[%zu]: %s%s%s is not %s", where, i, json_is_string(item) ? "'" : "",
                json_is_string(item) ? json_string_value(item) : cs_json_type_name(item),
                json_is_string(item) ? "'" : "", what);
    }
    return 0;
}

static int check_int(json_t *obj, const char *key, long long min, long long max, const char *where,
                     cs_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return cs_error_set(err, EINVAL, "%s.%s must be an integer from %lld to %lld", where, key,
                            min, max);
    return 0;
}

static int check_bool(json_t *obj, const char *key, const char *where, cs_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v && !json_is_boolean(v))
        return cs_error_set(err, EINVAL, "%s.%s must be true or false, not %s", where, key,
                            cs_json_type_name(v));
    return 0;
}

static int check_object(json_t *obj, const char *key, const char *where, json_t **out,
                        cs_error *err)
{
    *out = json_object_get(obj, key);
    if (*out && !json_is_object(*out))
        return cs_error_set(err, EINVAL, "%s.%s must be an object, not %s", where, key,
                            cs_json_type_name(*out));
    return 0;
}

static int check_fs(json_t *fs, const char *where, cs_error *err)
{
    if (!json_is_array(fs))
        return cs_error_set(err, EINVAL, "%s.fs must be an array of {\"path\", \"access\"}", where);
    if (json_array_size(fs) > 1024)
        return cs_error_set(err, E2BIG, "%s.fs has more than 1024 entries", where);
    size_t i;
    json_t *rule;
    json_array_foreach(fs, i, rule)
    {
        char w[700];
        snprintf(w, sizeof(w), "%s.fs[%zu]", where, i);
        if (!json_is_object(rule))
            return cs_error_set(err, EINVAL, "%s must be an object with \"path\" and \"access\"",
                                w);
        static const char *const keys[] = {"path", "access", NULL};
        const char *path, *access;
        int rc;
        if ((rc = cs_json_check_keys(rule, keys, w, err)) < 0 ||
            (rc = cs_json_get_string(rule, "path", false, w, &path, err)) < 0 ||
            (rc = cs_json_get_string(rule, "access", false, w, &access, err)) < 0)
            return rc;
        if (!valid_policy_path(path))
            return cs_error_set(err, EINVAL,
                                "%s.path: '%s' must be absolute or start with '~' or "
                                "'${APP_DATA}', without '.' or '..' segments",
                                w, path);
        if (strcmp(access, "read") != 0 && strcmp(access, "read-write") != 0 &&
            strcmp(access, "deny") != 0)
            return cs_error_set(
                err, EINVAL, "%s.access: '%s' must be 'read', 'read-write' or 'deny'", w, access);
    }
    return 0;
}

static int check_scope(json_t *block, const char *where, cs_error *err)
{
    if (!json_is_object(block))
        return cs_error_set(err, EINVAL, "%s must be an object, not %s", where,
                            cs_json_type_name(block));
    static const char *const keys[] = {"fs",
                                       "net",
                                       "bus",
                                       "limits",
                                       "developer_mode",
                                       "unsigned_folders",
                                       "remote_debugging",
                                       "restart_on_policy_change",
                                       "update",
                                       "versions",
                                       NULL};
    int rc = cs_json_check_keys(block, keys, where, err);
    if (rc < 0)
        return rc;
    static const char *const flags[] = {"developer_mode", "unsigned_folders", "remote_debugging",
                                        "restart_on_policy_change", NULL};
    for (const char *const *f = flags; *f; f++)
        if ((rc = check_bool(block, *f, where, err)) < 0)
            return rc;

    json_t *fs = json_object_get(block, "fs");
    if (fs && (rc = check_fs(fs, where, err)) < 0)
        return rc;

    char w[700];
    json_t *net, *bus, *limits, *update, *versions;
    if ((rc = check_object(block, "net", where, &net, err)) < 0 ||
        (rc = check_object(block, "bus", where, &bus, err)) < 0 ||
        (rc = check_object(block, "limits", where, &limits, err)) < 0 ||
        (rc = check_object(block, "update", where, &update, err)) < 0 ||
        (rc = check_object(block, "versions", where, &versions, err)) < 0)
        return rc;
    if (net) {
        snprintf(w, sizeof(w), "%s.net", where);
        static const char *const nkeys[] = {"allow", "deny", NULL};
        if ((rc = cs_json_check_keys(net, nkeys, w, err)) < 0)
            return rc;
        const char *key;
        json_t *list;
        json_object_foreach(net, key, list)
        {
            char lw[760];
            snprintf(lw, sizeof(lw), "%s.%s", w, key);
            if ((rc = check_string_array(list, lw, cs_manifest_host_valid,
                                         "a host pattern like 'api.example.com', "
                                         "'*.example.com' or 'example.com:8443'",
                                         err)) < 0)
                return rc;
        }
    }
    if (bus) {
        snprintf(w, sizeof(w), "%s.bus", where);
        static const char *const bkeys[] = {"publish", "subscribe", "deny_publish",
                                            "deny_subscribe", NULL};
        if ((rc = cs_json_check_keys(bus, bkeys, w, err)) < 0)
            return rc;
        const char *key;
        json_t *list;
        json_object_foreach(bus, key, list)
        {
            char lw[760];
            snprintf(lw, sizeof(lw), "%s.%s", w, key);
            if ((rc = check_string_array(list, lw, cs_manifest_topic_valid,
                                         "a topic pattern like 'quotes/*'", err)) < 0)
                return rc;
        }
    }
    if (limits) {
        snprintf(w, sizeof(w), "%s.limits", where);
        static const char *const lkeys[] = {"memory_mb", "processes", "cpu_percent", NULL};
        if ((rc = cs_json_check_keys(limits, lkeys, w, err)) < 0 ||
            (rc = check_int(limits, "memory_mb", 16, 1048576, w, err)) < 0 ||
            (rc = check_int(limits, "processes", 1, 65536, w, err)) < 0 ||
            (rc = check_int(limits, "cpu_percent", 1, 102400, w, err)) < 0)
            return rc;
    }
    if (update) {
        snprintf(w, sizeof(w), "%s.update", where);
        static const char *const ukeys[] = {
            "repository",      "channel",       "window",        "apply",
            "rollout_percent", "auto_rollback", "grace_seconds", NULL};
        const char *repo = NULL, *channel = NULL, *window = NULL, *apply = NULL;
        if ((rc = cs_json_check_keys(update, ukeys, w, err)) < 0 ||
            (rc = cs_json_get_string(update, "repository", true, w, &repo, err)) < 0 ||
            (rc = cs_json_get_string(update, "channel", true, w, &channel, err)) < 0 ||
            (rc = cs_json_get_string(update, "window", true, w, &window, err)) < 0 ||
            (rc = cs_json_get_string(update, "apply", true, w, &apply, err)) < 0 ||
            (rc = check_int(update, "rollout_percent", 0, 100, w, err)) < 0 ||
            (rc = check_int(update, "grace_seconds", 1, 86400, w, err)) < 0 ||
            (rc = check_bool(update, "auto_rollback", w, err)) < 0)
            return rc;
        if (repo && !valid_name(repo, 63))
            return cs_error_set(err, EINVAL,
                                "%s.repository: '%s' must be a repository name (lowercase "
                                "letters, digits, '-', '_', '.'; at most 63)",
                                w, repo);
        if (channel && !valid_name(channel, 63))
            return cs_error_set(err, EINVAL,
                                "%s.channel: '%s' must be a channel name such as 'stable' "
                                "(lowercase letters, digits, '-', '_', '.'; at most 63)",
                                w, channel);
        if (window && *window && !cs_policy_window_valid(window))
            return cs_error_set(err, EINVAL,
                                "%s.window: '%s' must be \"HH:MM-HH:MM\" in local time, such as "
                                "\"22:00-06:00\"",
                                w, window);
        if (apply && strcmp(apply, "immediately") != 0 && strcmp(apply, "next-start") != 0)
            return cs_error_set(err, EINVAL, "%s.apply: '%s' must be 'immediately' or 'next-start'",
                                w, apply);
    }
    if (versions) {
        snprintf(w, sizeof(w), "%s.versions", where);
        static const char *const vkeys[] = {"minimum", "pinned", "range", NULL};
        const char *minimum = NULL, *pinned = NULL, *range = NULL;
        if ((rc = cs_json_check_keys(versions, vkeys, w, err)) < 0 ||
            (rc = cs_json_get_string(versions, "minimum", true, w, &minimum, err)) < 0 ||
            (rc = cs_json_get_string(versions, "pinned", true, w, &pinned, err)) < 0 ||
            (rc = cs_json_get_string(versions, "range", true, w, &range, err)) < 0)
            return rc;
        if (minimum && *minimum && !cs_semver_valid(minimum))
            return cs_error_set(err, EINVAL, "%s.minimum: '%s' is not a semantic version", w,
                                minimum);
        if (pinned && *pinned && !cs_semver_valid(pinned))
            return cs_error_set(err, EINVAL, "%s.pinned: '%s' is not a semantic version", w,
                                pinned);
        if (range && *range && !cs_semver_range_valid(range))
            return cs_error_set(err, EINVAL,
                                "%s.range: '%s' is not a version range such as "
                                "\">=1.2.0 <2.0.0\"",
                                w, range);
    }
    return 0;
}

/* Make a path relative to the policy file absolute, in place. */
static int absolutize(json_t *obj, const char *key, const char *base, const char *where,
                      cs_error *err)
{
    const char *value;
    int rc = cs_json_get_string(obj, key, true, where, &value, err);
    if (rc < 0 || !value)
        return rc;
    if (!*value || strlen(value) > 1000)
        return cs_error_set(err, EINVAL, "%s.%s must be a path of 1 to 1000 bytes", where, key);
    if (value[0] == '/')
        return 0;
    char full[2048];
    snprintf(full, sizeof(full), "%s/%s", base, value);
    json_object_set_new(obj, key, json_string(full));
    return 0;
}

static int check_repositories(json_t *repos, const char *path, const char *base, cs_error *err)
{
    if (!json_is_object(repos))
        return cs_error_set(err, EINVAL, "%s: repositories must be an object of named repositories",
                            path);
    const char *name;
    json_t *repo;
    json_object_foreach(repos, name, repo)
    {
        char w[700];
        snprintf(w, sizeof(w), "%s: repositories.%s", path, name);
        if (!valid_name(name, 63))
            return cs_error_set(err, EINVAL,
                                "%s: repository name '%s' must be lowercase letters, digits, '-', "
                                "'_' or '.' (at most 63)",
                                path, name);
        if (!json_is_object(repo))
            return cs_error_set(err, EINVAL, "%s must be an object", w);
        static const char *const keys[] = {"url", "root", "ca_file", "allow_http", NULL};
        const char *url;
        int rc;
        if ((rc = cs_json_check_keys(repo, keys, w, err)) < 0 ||
            (rc = cs_json_get_string(repo, "url", false, w, &url, err)) < 0 ||
            (rc = check_bool(repo, "allow_http", w, err)) < 0 ||
            (rc = absolutize(repo, "root", base, w, err)) < 0 ||
            (rc = absolutize(repo, "ca_file", base, w, err)) < 0)
            return rc;
        if (!json_object_get(repo, "root"))
            return cs_error_set(err, EINVAL,
                                "%s: field 'root' is missing; name the file that holds the "
                                "repository's trusted root metadata",
                                w);
        bool http = strncmp(url, "http://", 7) == 0;
        if (strlen(url) > 1000 || (!http && strncmp(url, "https://", 8) != 0))
            return cs_error_set(err, EINVAL, "%s.url: '%s' must start with https://", w, url);
        if (http && !json_is_true(json_object_get(repo, "allow_http")))
            return cs_error_set(err, EINVAL,
                                "%s.url: '%s' is plain HTTP; use https://, or set \"allow_http\": "
                                "true to allow it for this repository (signatures are still "
                                "checked)",
                                w, url);
    }
    return 0;
}

static int check_audit(json_t *audit, const char *path, cs_error *err)
{
    char w[600];
    snprintf(w, sizeof(w), "%s: audit", path);
    if (!json_is_object(audit))
        return cs_error_set(err, EINVAL, "%s must be an object", w);
    static const char *const keys[] = {"path", "max_bytes", "keep", NULL};
    const char *file;
    int rc;
    if ((rc = cs_json_check_keys(audit, keys, w, err)) < 0 ||
        (rc = cs_json_get_string(audit, "path", false, w, &file, err)) < 0 ||
        (rc = check_int(audit, "max_bytes", 4096, 1LL << 40, w, err)) < 0 ||
        (rc = check_int(audit, "keep", 0, 100, w, err)) < 0)
        return rc;
    if (file[0] != '/' || strlen(file) > 1000)
        return cs_error_set(err, EINVAL, "%s.path: '%s' must be an absolute path", w, file);
    return 0;
}

static int check_trust(json_t *trust, const char *path, const char *base, cs_error *err)
{
    char w[600];
    snprintf(w, sizeof(w), "%s: trust", path);
    if (!json_is_object(trust))
        return cs_error_set(err, EINVAL, "%s must be an object", w);
    static const char *const keys[] = {"publishers", "ca_certificates", "blocked_publishers", NULL};
    json_t *publishers, *cas, *blocked;
    int rc;
    if ((rc = cs_json_check_keys(trust, keys, w, err)) < 0 ||
        (rc = cs_json_get_array(trust, "publishers", true, w, &publishers, err)) < 0 ||
        (rc = cs_json_get_array(trust, "ca_certificates", true, w, &cas, err)) < 0 ||
        (rc = cs_json_get_array(trust, "blocked_publishers", true, w, &blocked, err)) < 0)
        return rc;
    char bw[700];
    snprintf(bw, sizeof(bw), "%s.blocked_publishers", w);
    if (blocked &&
        (rc = check_string_array(blocked, bw, cs_policy_publisher_valid,
                                 "a key id (64 hex digits) or a certificate subject", err)) < 0)
        return rc;
    /* Load the entries once, so a wrong key id or a missing CA file shows
     * now, in the file that names it. */
    cs_trust scratch;
    cs_trust_init(&scratch);
    rc = cs_trust_add_json(&scratch, publishers, cas, w, base, err);
    cs_trust_free(&scratch);
    return rc;
}

static bool valid_run_selector(const char *s)
{
    if (strncmp(s, "publisher:", 10) == 0)
        return cs_policy_publisher_valid(s + 10);
    return cs_policy_id_pattern_valid(s);
}

static int check_run(json_t *run, const char *path, cs_error *err)
{
    char w[600];
    snprintf(w, sizeof(w), "%s: run", path);
    if (!json_is_object(run))
        return cs_error_set(err, EINVAL, "%s must be an object", w);
    static const char *const keys[] = {"allow", "block", NULL};
    int rc = cs_json_check_keys(run, keys, w, err);
    const char *key;
    json_t *list;
    json_object_foreach(run, key, list)
    {
        char lw[700];
        snprintf(lw, sizeof(lw), "%s.%s", w, key);
        if (rc == 0)
            rc = check_string_array(list, lw, valid_run_selector,
                                    "an app id, an id pattern like 'com.example.*', or "
                                    "'publisher:' followed by a key id or certificate subject",
                                    err);
    }
    return rc;
}

/* Validate the scopes of "defaults", "publishers" and "apps"; a broken scope
 * is recorded and removed, so the rest of the file still applies. */
static int check_scopes(cs_policy *p, cs_policy_file *f, json_t *root)
{
    cs_error err = {0};
    json_t *defaults = json_object_get(root, "defaults");
    if (defaults) {
        char w[600];
        snprintf(w, sizeof(w), "%s: defaults", f->path);
        if (check_scope(defaults, w, &err) < 0) {
            json_object_del(root, "defaults");
            if (add_broken(p, f, 'd', NULL, err.message) < 0)
                return -ENOMEM;
        }
    }
    static const char *const maps[] = {"publishers", "apps", NULL};
    for (const char *const *m = maps; *m; m++) {
        json_t *map = json_object_get(root, *m);
        if (!map)
            continue;
        const char *key;
        json_t *block;
        void *tmp;
        json_object_foreach_safe(map, tmp, key, block)
        {
            char w[900];
            snprintf(w, sizeof(w), "%s: %s.\"%s\"", f->path, *m, key);
            bool apps = (*m)[0] == 'a';
            int rc = 0;
            if (apps && !cs_policy_id_pattern_valid(key))
                rc = cs_error_set(&err, EINVAL,
                                  "%s: '%s' is not an app id or an id pattern like "
                                  "'com.example.*' or '*'",
                                  w, key);
            else if (!apps && !cs_policy_publisher_valid(key))
                rc = cs_error_set(&err, EINVAL,
                                  "%s: '%s' is not a key id (64 hex digits) or a certificate "
                                  "subject",
                                  w, key);
            else
                rc = check_scope(block, w, &err);
            if (rc < 0) {
                if (add_broken(p, f, apps ? 'a' : 'p', key, err.message) < 0)
                    return -ENOMEM;
                json_object_del(map, key);
            }
        }
    }
    return 0;
}

/* Validate everything outside the scopes; an error here breaks the file. */
static int check_file(json_t *root, const char *path, cs_error *err)
{
    if (!json_is_object(root))
        return cs_error_set(err, EINVAL, "%s: the top level must be an object, not %s", path,
                            cs_json_type_name(root));
    static const char *const keys[] = {"description",  "trust",      "run",
                                       "defaults",     "publishers", "apps",
                                       "repositories", "audit",      NULL};
    int rc = cs_json_check_keys(root, keys, path, err);
    if (rc < 0)
        return rc;
    cs_autofree char *base = cs_dirname(path);
    json_t *v;
    if ((v = json_object_get(root, "description")) && !json_is_string(v))
        return cs_error_set(err, EINVAL, "%s: description must be a string", path);
    if ((v = json_object_get(root, "trust")) && (rc = check_trust(v, path, base, err)) < 0)
        return rc;
    if ((v = json_object_get(root, "run")) && (rc = check_run(v, path, err)) < 0)
        return rc;
    if ((v = json_object_get(root, "repositories")) &&
        (rc = check_repositories(v, path, base, err)) < 0)
        return rc;
    if ((v = json_object_get(root, "audit")) && (rc = check_audit(v, path, err)) < 0)
        return rc;
    static const char *const maps[] = {"publishers", "apps", NULL};
    for (const char *const *m = maps; *m; m++) {
        if ((v = json_object_get(root, *m)) && !json_is_object(v))
            return cs_error_set(err, EINVAL,
                                "%s: %s must be an object whose keys name what each entry "
                                "covers",
                                path, *m);
    }
    return 0;
}

/* ---- Reading files and folders ---- */

static bool unsafe_owner(const struct stat *sb)
{
    return geteuid() == 0 && (sb->st_uid != 0 || (sb->st_mode & (S_IWGRP | S_IWOTH)));
}

static int ownership_problem(cs_policy *p, const char *path, const struct stat *sb)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "ignored: %s (owner uid %u, mode %04o); policy must be owned by root and writable "
             "only by root",
             sb->st_uid != 0 ? "not owned by root" : "writable by group or others",
             (unsigned)sb->st_uid, (unsigned)(sb->st_mode & 07777));
    return add_problem(p, path, msg, true);
}

/* Record a file or folder that cannot be read as a broken file, so that it
 * fails closed. */
static int add_broken_file(cs_policy *p, const char *path, cs_policy_level level,
                           const char *message)
{
    cs_policy_file *files = realloc(p->files, (p->nfiles + 1) * sizeof(*files));
    if (!files)
        return -ENOMEM;
    p->files = files;
    cs_policy_file *f = &files[p->nfiles];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(path)))
        return -ENOMEM;
    f->level = level;
    p->nfiles++;
    p->present = true;
    return add_broken(p, f, 'f', NULL, message);
}

static int load_file(cs_policy *p, const char *path, cs_policy_level level)
{
    if (p->nfiles > CS_POLICY_MAX_FILES)
        return 0; /* already failed closed */
    if (p->nfiles == CS_POLICY_MAX_FILES) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "more than %d policy files; everything is denied to every app until there are "
                 "fewer",
                 CS_POLICY_MAX_FILES);
        return add_broken_file(p, path, level, msg);
    }
    cs_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && unsafe_owner(&sb))
        return ownership_problem(p, path, &sb);

    cs_policy_file *files = realloc(p->files, (p->nfiles + 1) * sizeof(*files));
    if (!files)
        return -ENOMEM;
    p->files = files;
    cs_policy_file *f = &files[p->nfiles];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(path)))
        return -ENOMEM;
    f->level = level;
    p->nfiles++;
    p->present = true;

    cs_error err = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    json_t *root = NULL;
    int rc;
    if (fd < 0)
        rc = cs_error_errno(&err, errno, "%s: cannot open", path);
    else if (!S_ISREG(sb.st_mode))
        rc = cs_error_set(&err, EINVAL, "%s: not a regular file", path);
    else
        rc = cs_read_fd(fd, path, CS_POLICY_FILE_MAX, &data, &len, &err);
    if (rc == 0) {
        rc = cs_json_parse(data, len, path, &root, &err);
        free(data);
    }
    if (rc == 0)
        rc = check_file(root, path, &err);
    if (rc < 0) {
        json_decref(root);
        char msg[sizeof(err.message) + 80];
        snprintf(msg, sizeof(msg), "%s; everything is denied to every app until it is fixed",
                 err.message);
        return add_broken(p, f, 'f', NULL, msg);
    }
    f->root = root;
    return check_scopes(p, f, root);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int only_json(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 5 && strcmp(e->d_name + n - 5, ".json") == 0;
}

static int load_level(cs_policy *p, const char *folder, const char *name, cs_policy_level level)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", folder, name);
    struct stat sb;
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return 0;
    if (unsafe_owner(&sb))
        return ownership_problem(p, dir, &sb);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, only_json, by_name);
    if (n < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "cannot list the folder: %s; everything is denied",
                 strerror(errno));
        /* An unreadable level fails closed, like a broken file. */
        return add_broken_file(p, dir, level, msg);
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096 + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (rc == 0)
            rc = load_file(p, path, level);
        free(names[i]);
    }
    free(names);
    return rc;
}

int cs_policy_load(cs_policy *policy, const char *location, bool missing_ok, cs_error *err)
{
    memset(policy, 0, sizeof(*policy));
    struct stat sb;
    if (stat(location, &sb) < 0) {
        if (errno == ENOENT && missing_ok)
            return 0;
        return cs_error_errno(err, errno, "policy: cannot read %s", location);
    }
    if (!(policy->location = strdup(location)))
        return cs_error_set(err, ENOMEM, "out of memory");
    int rc;
    if (S_ISDIR(sb.st_mode)) {
        if (unsafe_owner(&sb)) {
            rc = ownership_problem(policy, location, &sb);
        } else if ((rc = load_level(policy, location, "managed", CS_POLICY_MANAGED)) == 0 &&
                   (rc = load_level(policy, location, "recommended", CS_POLICY_RECOMMENDED)) == 0) {
            /* Files directly in the folder are a common mistake, so report them. */
            struct dirent **names = NULL;
            int n = scandir(location, &names, only_json, by_name);
            for (int i = 0; i < n; i++) {
                char path[4096 + 256];
                snprintf(path, sizeof(path), "%s/%s", location, names[i]->d_name);
                if (rc == 0)
                    rc = add_problem(policy, path,
                                     "ignored: policy files go in managed/ or recommended/", true);
                free(names[i]);
            }
            free(names);
        }
    } else {
        rc = load_file(policy, location, CS_POLICY_MANAGED);
    }
    if (rc < 0) {
        cs_policy_free(policy);
        return cs_error_set(err, -rc, "policy: cannot read %s: %s", location, strerror(-rc));
    }
    return 0;
}

void cs_policy_free(cs_policy *policy)
{
    for (size_t i = 0; i < policy->nfiles; i++) {
        cs_policy_file *f = &policy->files[i];
        free(f->path);
        json_decref(f->root);
        for (size_t j = 0; j < f->nbroken; j++) {
            free(f->broken[j].key);
            free(f->broken[j].error);
        }
        free(f->broken);
    }
    free(policy->files);
    for (size_t i = 0; i < policy->nproblems; i++) {
        free(policy->problems[i].file);
        free(policy->problems[i].message);
    }
    free(policy->problems);
    free(policy->location);
    memset(policy, 0, sizeof(*policy));
}

void cs_policy_print_problems(const cs_policy *policy, FILE *out, const char *prefix)
{
    for (size_t i = 0; i < policy->nproblems; i++) {
        const cs_policy_problem *pr = &policy->problems[i];
        /* Validation messages already start with the file name. */
        if (strncmp(pr->message, pr->file, strlen(pr->file)) == 0)
            fprintf(out, "%spolicy: %s\n", prefix, pr->message);
        else
            fprintf(out, "%spolicy: %s: %s\n", prefix, pr->file, pr->message);
    }
}
