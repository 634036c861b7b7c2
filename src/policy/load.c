/* Reading and validating policy files. */
#include "policy/internal.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "crypto/trust.h"
#include "package/manifest.h"
#include "package/semver.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
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

/* Record that a file or one of its scopes is broken; the decisions deny
 * everything it covers. */
static int add_broken(cs_policy_file *f, char kind, const char *key, const char *error)
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
    return 0;
}

/* Every error found in one file or scope, so that 'policy check' can list
 * them all. total counts errors even when storing a message failed, so an
 * error can never be lost and turn into "valid". */
typedef struct findings {
    char **messages;
    size_t count;
    size_t total;
} findings;

#define FINDINGS_MAX 64

static void found(findings *f, const cs_error *err)
{
    f->total++;
    if (f->count >= FINDINGS_MAX)
        return;
    char **list = realloc(f->messages, (f->count + 1) * sizeof(*list));
    if (!list)
        return;
    f->messages = list;
    if ((list[f->count] = strdup(err->message)))
        f->count++;
}

static void findings_free(findings *f)
{
    for (size_t i = 0; i < f->count; i++)
        free(f->messages[i]);
    free(f->messages);
    memset(f, 0, sizeof(*f));
}

/* Report the findings of a broken file or scope: each error, then what is
 * denied because of them. */
static int report(cs_policy *p, cs_policy_file *f, char kind, const char *key,
                  const findings *errors, const char *covers)
{
    const char *first = errors->count ? errors->messages[0] : "invalid policy";
    int rc = add_broken(f, kind, key, first);
    for (size_t i = 0; rc == 0 && i < errors->count; i++)
        rc = add_problem(p, f->path, errors->messages[i], false);
    if (rc == 0 && errors->total > errors->count) {
        char more[128];
        snprintf(more, sizeof(more), "%zu more problems not listed", errors->total - errors->count);
        rc = add_problem(p, f->path, more, false);
    }
    if (rc == 0) {
        char summary[1024];
        snprintf(summary, sizeof(summary), "%s%s%s%s: everything is denied to %s until %s fixed",
                 kind == 'f' ? "this file" : "", kind == 'd' ? "defaults" : "",
                 kind == 'a'   ? "apps."
                 : kind == 'p' ? "publishers."
                               : "",
                 key ? key : "", covers, errors->total == 1 ? "it is" : "they are");
        rc = add_problem(p, f->path, summary, false);
    }
    return rc;
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
    if (len == 0 || len > 1000 || strstr(path, "//"))
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

/* The value as short JSON text for messages. */
static const char *value_text(json_t *v, char *buf, size_t size)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        snprintf(buf, size, "%s", cs_json_type_name(v));
        return buf;
    }
    if (strlen(text) > 60)
        snprintf(buf, size, "%.57s...", text);
    else
        snprintf(buf, size, "%s", text);
    free(text);
    return buf;
}

static void check_string_array(json_t *list, const char *where, bool (*valid)(const char *),
                               const char *what, findings *out)
{
    cs_error err = {0};
    char shown[80];
    if (!json_is_array(list)) {
        cs_error_set(&err, EINVAL, "%s must be an array of %s, not %s", where, what,
                     value_text(list, shown, sizeof(shown)));
        found(out, &err);
        return;
    }
    if (json_array_size(list) > 4096) {
        cs_error_set(&err, E2BIG, "%s has more than 4096 entries", where);
        found(out, &err);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (json_is_string(item) && valid(json_string_value(item)))
            continue;
        cs_error_set(&err, EINVAL, "%s[%zu]: %s is not %s", where, i,
                     value_text(item, shown, sizeof(shown)), what);
        found(out, &err);
    }
}

static void check_int(json_t *obj, const char *key, long long min, long long max, const char *where,
                      findings *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max))
        return;
    cs_error err = {0};
    char shown[80];
    cs_error_set(&err, EINVAL, "%s.%s must be an integer from %lld to %lld, not %s", where, key,
                 min, max, value_text(v, shown, sizeof(shown)));
    found(out, &err);
}

static void check_bool(json_t *obj, const char *key, const char *where, findings *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_boolean(v))
        return;
    cs_error err = {0};
    char shown[80];
    cs_error_set(&err, EINVAL, "%s.%s must be true or false, not %s", where, key,
                 value_text(v, shown, sizeof(shown)));
    found(out, &err);
}

/* A string field: its value, or NULL when absent or not a string (which
 * is reported). */
static const char *check_string(json_t *obj, const char *key, const char *where, findings *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_string(v))
        return json_string_value(v);
    cs_error err = {0};
    char shown[80];
    cs_error_set(&err, EINVAL, "%s.%s must be a string, not %s", where, key,
                 value_text(v, shown, sizeof(shown)));
    found(out, &err);
    return NULL;
}

/* An object field: the object, or NULL when absent or of another type
 * (which is reported). */
static json_t *check_object(json_t *obj, const char *key, const char *where, findings *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_object(v))
        return v;
    cs_error err = {0};
    char shown[80];
    cs_error_set(&err, EINVAL, "%s.%s must be an object, not %s", where, key,
                 value_text(v, shown, sizeof(shown)));
    found(out, &err);
    return NULL;
}

static void check_keys(json_t *obj, const char *const *keys, const char *where, findings *out)
{
    cs_error err = {0};
    if (cs_json_check_keys(obj, keys, where, &err) < 0)
        found(out, &err);
}

static void fail(findings *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(findings *out, const char *fmt, ...)
{
    cs_error err = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof(err.message), fmt, ap);
    va_end(ap);
    found(out, &err);
}

static void check_fs(json_t *fs, const char *where, findings *out)
{
    char shown[80];
    if (!json_is_array(fs)) {
        fail(out, "%s.fs must be an array of {\"path\", \"access\"}, not %s", where,
             value_text(fs, shown, sizeof(shown)));
        return;
    }
    if (json_array_size(fs) > 1024) {
        fail(out, "%s.fs has more than 1024 entries", where);
        return;
    }
    size_t i;
    json_t *rule;
    json_array_foreach(fs, i, rule)
    {
        char w[700];
        snprintf(w, sizeof(w), "%s.fs[%zu]", where, i);
        if (!json_is_object(rule)) {
            fail(out, "%s must be an object with \"path\" and \"access\", not %s", w,
                 value_text(rule, shown, sizeof(shown)));
            continue;
        }
        static const char *const keys[] = {"path", "access", NULL};
        check_keys(rule, keys, w, out);
        const char *path = check_string(rule, "path", w, out);
        const char *access = check_string(rule, "access", w, out);
        if (!json_object_get(rule, "path"))
            fail(out, "%s: field 'path' is missing", w);
        if (!json_object_get(rule, "access"))
            fail(out, "%s: field 'access' is missing; use 'read', 'read-write' or 'deny'", w);
        if (path && !valid_policy_path(path))
            fail(out,
                 "%s.path: '%s' must be absolute or start with '~' or '${APP_DATA}', without "
                 "empty, '.' or '..' segments",
                 w, path);
        if (access && strcmp(access, "read") != 0 && strcmp(access, "read-write") != 0 &&
            strcmp(access, "deny") != 0)
            fail(out, "%s.access: '%s' must be 'read', 'read-write' or 'deny'", w, access);
    }
}

static void check_lists(json_t *section, const char *const *keys, const char *where,
                        bool (*valid)(const char *), const char *what, findings *out)
{
    check_keys(section, keys, where, out);
    const char *key;
    json_t *list;
    json_object_foreach(section, key, list)
    {
        char w[760];
        snprintf(w, sizeof(w), "%s.%s", where, key);
        check_string_array(list, w, valid, what, out);
    }
}

static void check_update(json_t *update, const char *where, findings *out)
{
    static const char *const keys[] = {"repository",      "channel",       "window",        "apply",
                                       "rollout_percent", "auto_rollback", "grace_seconds", NULL};
    check_keys(update, keys, where, out);
    const char *repo = check_string(update, "repository", where, out);
    const char *channel = check_string(update, "channel", where, out);
    const char *window = check_string(update, "window", where, out);
    const char *apply = check_string(update, "apply", where, out);
    check_int(update, "rollout_percent", 0, 100, where, out);
    check_int(update, "grace_seconds", 1, 86400, where, out);
    check_bool(update, "auto_rollback", where, out);
    if (repo && !valid_name(repo, 63))
        fail(out,
             "%s.repository: '%s' must be a repository name (lowercase letters, digits, '-', "
             "'_' and '.', at most 63)",
             where, repo);
    if (channel && !valid_name(channel, 63))
        fail(out,
             "%s.channel: '%s' must be a channel name such as 'stable' (lowercase letters, "
             "digits, '-', '_' and '.', at most 63)",
             where, channel);
    if (window && *window && !cs_policy_window_valid(window))
        fail(out, "%s.window: '%s' must be \"HH:MM-HH:MM\" in local time, such as \"22:00-06:00\"",
             where, window);
    if (apply && strcmp(apply, "immediately") != 0 && strcmp(apply, "next-start") != 0)
        fail(out, "%s.apply: '%s' must be 'immediately' or 'next-start'", where, apply);
}

static void check_versions(json_t *versions, const char *where, findings *out)
{
    static const char *const keys[] = {"minimum", "pinned", "range", NULL};
    check_keys(versions, keys, where, out);
    const char *minimum = check_string(versions, "minimum", where, out);
    const char *pinned = check_string(versions, "pinned", where, out);
    const char *range = check_string(versions, "range", where, out);
    if (minimum && *minimum && !cs_semver_valid(minimum))
        fail(out, "%s.minimum: '%s' is not a semantic version such as '1.2.0'", where, minimum);
    if (pinned && *pinned && !cs_semver_valid(pinned))
        fail(out, "%s.pinned: '%s' is not a semantic version such as '1.2.0'", where, pinned);
    if (range && *range && !cs_semver_range_valid(range))
        fail(out, "%s.range: '%s' is not a version range such as \">=1.2.0 <2.0.0\"", where, range);
}

static void check_scope(json_t *block, const char *where, findings *out)
{
    char shown[80];
    if (!json_is_object(block)) {
        fail(out, "%s must be an object, not %s", where, value_text(block, shown, sizeof(shown)));
        return;
    }
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
    check_keys(block, keys, where, out);
    static const char *const flags[] = {"developer_mode", "unsigned_folders", "remote_debugging",
                                        "restart_on_policy_change", NULL};
    for (const char *const *f = flags; *f; f++)
        check_bool(block, *f, where, out);

    json_t *fs = json_object_get(block, "fs");
    if (fs)
        check_fs(fs, where, out);

    char w[700];
    json_t *net = check_object(block, "net", where, out);
    json_t *bus = check_object(block, "bus", where, out);
    json_t *limits = check_object(block, "limits", where, out);
    json_t *update = check_object(block, "update", where, out);
    json_t *versions = check_object(block, "versions", where, out);
    if (net) {
        static const char *const nkeys[] = {"allow", "deny", NULL};
        snprintf(w, sizeof(w), "%s.net", where);
        check_lists(net, nkeys, w, cs_manifest_host_valid,
                    "a host pattern like 'api.example.com', '*.example.com' or 'example.com:8443'",
                    out);
    }
    if (bus) {
        static const char *const bkeys[] = {"publish", "subscribe", "deny_publish",
                                            "deny_subscribe", NULL};
        snprintf(w, sizeof(w), "%s.bus", where);
        check_lists(bus, bkeys, w, cs_manifest_topic_valid, "a topic pattern like 'quotes/*'", out);
    }
    if (limits) {
        static const char *const lkeys[] = {"memory_mb", "processes", "cpu_percent", NULL};
        snprintf(w, sizeof(w), "%s.limits", where);
        check_keys(limits, lkeys, w, out);
        check_int(limits, "memory_mb", 16, 1048576, w, out);
        check_int(limits, "processes", 1, 65536, w, out);
        check_int(limits, "cpu_percent", 1, 102400, w, out);
    }
    if (update) {
        snprintf(w, sizeof(w), "%s.update", where);
        check_update(update, w, out);
    }
    if (versions) {
        snprintf(w, sizeof(w), "%s.versions", where);
        check_versions(versions, w, out);
    }
}

/* Make a path relative to the policy file absolute, in place. */
static void absolutize(json_t *obj, const char *key, const char *base, const char *where,
                       findings *out)
{
    const char *value = check_string(obj, key, where, out);
    if (!value)
        return;
    if (!*value || strlen(value) > 1000) {
        fail(out, "%s.%s must be a path of 1 to 1000 bytes", where, key);
        return;
    }
    if (value[0] == '/')
        return;
    char full[2048];
    snprintf(full, sizeof(full), "%s/%s", base, value);
    json_object_set_new(obj, key, json_string(full));
}

static void check_repositories(json_t *repos, const char *path, const char *base, findings *out)
{
    if (!json_is_object(repos)) {
        fail(out, "%s: repositories must be an object of named repositories", path);
        return;
    }
    const char *name;
    json_t *repo;
    json_object_foreach(repos, name, repo)
    {
        char w[700];
        snprintf(w, sizeof(w), "%s: repositories.%s", path, name);
        if (!valid_name(name, 63))
            fail(out,
                 "%s: repository name '%s' must be lowercase letters, digits, '-', '_' or '.' "
                 "(at most 63)",
                 path, name);
        if (!json_is_object(repo)) {
            fail(out, "%s must be an object", w);
            continue;
        }
        static const char *const keys[] = {"url", "root", "ca_file", "allow_http", NULL};
        check_keys(repo, keys, w, out);
        check_bool(repo, "allow_http", w, out);
        absolutize(repo, "root", base, w, out);
        absolutize(repo, "ca_file", base, w, out);
        const char *url = check_string(repo, "url", w, out);
        if (!json_object_get(repo, "url"))
            fail(out, "%s: field 'url' is missing; give the repository's https:// address", w);
        if (!json_object_get(repo, "root"))
            fail(out,
                 "%s: field 'root' is missing; name the file that holds the repository's "
                 "trusted root metadata",
                 w);
        if (!url)
            continue;
        bool http = strncmp(url, "http://", 7) == 0;
        if (strlen(url) > 1000 || (!http && strncmp(url, "https://", 8) != 0))
            fail(out, "%s.url: '%s' must start with https://", w, url);
        else if (http && !json_is_true(json_object_get(repo, "allow_http")))
            fail(out,
                 "%s.url: '%s' is plain HTTP; use https://, or set \"allow_http\": true to allow "
                 "it for this repository (signatures are still checked)",
                 w, url);
    }
}

static void check_audit(json_t *audit, const char *path, findings *out)
{
    char w[600];
    snprintf(w, sizeof(w), "%s: audit", path);
    if (!json_is_object(audit)) {
        fail(out, "%s must be an object", w);
        return;
    }
    static const char *const keys[] = {"path", "max_bytes", "keep", NULL};
    check_keys(audit, keys, w, out);
    check_int(audit, "max_bytes", 4096, 1LL << 40, w, out);
    check_int(audit, "keep", 0, 100, w, out);
    const char *file = check_string(audit, "path", w, out);
    if (!json_object_get(audit, "path"))
        fail(out, "%s: field 'path' is missing; name the audit file", w);
    if (file && (file[0] != '/' || strlen(file) > 1000))
        fail(out, "%s.path: '%s' must be an absolute path", w, file);
}

static void check_trust(json_t *trust, const char *path, const char *base, findings *out)
{
    char w[600];
    snprintf(w, sizeof(w), "%s: trust", path);
    if (!json_is_object(trust)) {
        fail(out, "%s must be an object", w);
        return;
    }
    static const char *const keys[] = {"publishers", "ca_certificates", "blocked_publishers", NULL};
    check_keys(trust, keys, w, out);
    json_t *blocked = json_object_get(trust, "blocked_publishers");
    char bw[700];
    snprintf(bw, sizeof(bw), "%s.blocked_publishers", w);
    if (blocked)
        check_string_array(blocked, bw, cs_policy_publisher_valid,
                           "a key id (64 hex digits) or a certificate subject", out);
    json_t *publishers = json_object_get(trust, "publishers");
    json_t *cas = json_object_get(trust, "ca_certificates");
    if (publishers && !json_is_array(publishers))
        fail(out, "%s.publishers must be an array of {\"name\", \"key_id\"}", w);
    if (cas && !json_is_array(cas))
        fail(out, "%s.ca_certificates must be an array of paths", w);
    if ((publishers && !json_is_array(publishers)) || (cas && !json_is_array(cas)))
        return;
    /* Load the entries once, so a wrong key id or a missing CA file shows
     * now, in the file that names it. */
    cs_trust scratch;
    cs_trust_init(&scratch);
    cs_error err = {0};
    if (cs_trust_add_json(&scratch, publishers, cas, w, base, &err) < 0)
        found(out, &err);
    cs_trust_free(&scratch);
}

static bool valid_run_selector(const char *s)
{
    if (strncmp(s, "publisher:", 10) == 0)
        return cs_policy_publisher_valid(s + 10);
    return cs_policy_id_pattern_valid(s);
}

static void check_run(json_t *run, const char *path, findings *out)
{
    char w[600];
    snprintf(w, sizeof(w), "%s: run", path);
    if (!json_is_object(run)) {
        fail(out, "%s must be an object", w);
        return;
    }
    static const char *const keys[] = {"allow", "block", NULL};
    check_lists(run, keys, w, valid_run_selector,
                "an app id, an id pattern like 'com.example.*', or 'publisher:' followed by a key "
                "id or certificate subject",
                out);
}

/* Validate the scopes of "defaults", "publishers" and "apps". A broken
 * scope is reported and removed, so the rest of the file still applies. */
static int check_scopes(cs_policy *p, cs_policy_file *f, json_t *root)
{
    json_t *defaults = json_object_get(root, "defaults");
    if (defaults) {
        char w[600];
        snprintf(w, sizeof(w), "%s: defaults", f->path);
        findings errors = {0};
        check_scope(defaults, w, &errors);
        int rc = 0;
        if (errors.total) {
            json_object_del(root, "defaults");
            rc = report(p, f, 'd', NULL, &errors, "every app");
        }
        findings_free(&errors);
        if (rc < 0)
            return rc;
    }
    static const char *const maps[] = {"publishers", "apps", NULL};
    for (const char *const *m = maps; *m; m++) {
        json_t *map = json_object_get(root, *m);
        const char *key;
        json_t *block;
        void *tmp;
        json_object_foreach_safe(map, tmp, key, block)
        {
            char w[900];
            snprintf(w, sizeof(w), "%s: %s.\"%s\"", f->path, *m, key);
            bool apps = (*m)[0] == 'a';
            findings errors = {0};
            if (apps && !cs_policy_id_pattern_valid(key))
                fail(&errors,
                     "%s: '%s' is not an app id or an id pattern like 'com.example.*' or "
                     "'*'",
                     w, key);
            else if (!apps && !cs_policy_publisher_valid(key))
                fail(&errors, "%s: '%s' is not a key id (64 hex digits) or a certificate subject",
                     w, key);
            else
                check_scope(block, w, &errors);
            int rc = 0;
            if (errors.total) {
                rc = report(p, f, apps ? 'a' : 'p', key, &errors,
                            apps ? "the apps it covers" : "the publisher's apps");
                json_object_del(map, key);
            }
            findings_free(&errors);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Validate everything outside the scopes; an error here breaks the file. */
static void check_file(json_t *root, const char *path, findings *out)
{
    char shown[80];
    if (!json_is_object(root)) {
        fail(out, "%s: the top level must be an object, not %s", path,
             value_text(root, shown, sizeof(shown)));
        return;
    }
    static const char *const keys[] = {"description",  "trust",      "run",
                                       "defaults",     "publishers", "apps",
                                       "repositories", "audit",      NULL};
    check_keys(root, keys, path, out);
    cs_autofree char *base = cs_dirname(path);
    json_t *v;
    if ((v = json_object_get(root, "description")) && !json_is_string(v))
        fail(out, "%s: description must be a string", path);
    if ((v = json_object_get(root, "trust")))
        check_trust(v, path, base ? base : ".", out);
    if ((v = json_object_get(root, "run")))
        check_run(v, path, out);
    if ((v = json_object_get(root, "repositories")))
        check_repositories(v, path, base ? base : ".", out);
    if ((v = json_object_get(root, "audit")))
        check_audit(v, path, out);
    static const char *const maps[] = {"publishers", "apps", NULL};
    for (const char *const *m = maps; *m; m++) {
        if ((v = json_object_get(root, *m)) && !json_is_object(v))
            fail(out, "%s: %s must be an object whose keys name what each entry covers", path, *m);
    }
}

/* ---- Reading files and folders ---- */

static bool unsafe_owner(const struct stat *sb)
{
    return geteuid() == 0 && (sb->st_uid != 0 || (sb->st_mode & (S_IWGRP | S_IWOTH)));
}

/* Append an empty record for the file at path; NULL when out of memory. */
static cs_policy_file *add_file(cs_policy *p, const char *path, cs_policy_level level)
{
    cs_policy_file *files = realloc(p->files, (p->nfiles + 1) * sizeof(*files));
    if (!files)
        return NULL;
    p->files = files;
    cs_policy_file *f = &files[p->nfiles];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(path)))
        return NULL;
    f->level = level;
    p->nfiles++;
    p->present = true;
    return f;
}

/* Record a file or folder that cannot be used as a broken file, so that it
 * fails closed. */
static int add_broken_file(cs_policy *p, const char *path, cs_policy_level level, const char *error,
                           const char *message, bool ignored)
{
    cs_policy_file *f = add_file(p, path, level);
    if (!f)
        return -ENOMEM;
    int rc = add_broken(f, 'f', NULL, error);
    return rc < 0 ? rc : add_problem(p, path, message, ignored);
}

/* A policy file or folder that others could have written is not read, and
 * fails closed: its grants are not applied, and since its restrictions
 * cannot be trusted either, every app is denied everything. */
static int ownership_problem(cs_policy *p, const char *path, cs_policy_level level,
                             const struct stat *sb)
{
    char error[200], msg[700];
    snprintf(error, sizeof(error), "%s (owner uid %u, mode %04o)",
             sb->st_uid != 0 ? "not owned by root" : "writable by group or others",
             (unsigned)sb->st_uid, (unsigned)(sb->st_mode & 07777));
    snprintf(msg, sizeof(msg),
             "ignored: %s, so everything is denied to every app until root owns it and only "
             "root can write it (chown root:root; chmod go-w)",
             error);
    return add_broken_file(p, path, level, error, msg, true);
}

/* The root and CA files that repositories name must be readable. A missing
 * one only stops updates from that repository, so it is reported without
 * failing the file closed. */
static int check_repository_files(cs_policy *p, const cs_policy_file *f, json_t *root)
{
    const char *name;
    json_t *repo;
    json_object_foreach(json_object_get(root, "repositories"), name, repo)
    {
        static const char *const keys[] = {"root", "ca_file", NULL};
        for (const char *const *k = keys; *k; k++) {
            const char *file = json_string_value(json_object_get(repo, *k));
            if (!file || access(file, R_OK) == 0)
                continue;
            char msg[1400];
            snprintf(msg, sizeof(msg),
                     "repositories.%s.%s: cannot read %s: %s; updates from this repository fail "
                     "until it can be read (a relative path starts in the policy file's folder)",
                     name, *k, file, strerror(errno));
            int rc = add_problem(p, f->path, msg, false);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int load_file(cs_policy *p, const char *path, cs_policy_level level)
{
    if (p->nfiles > CS_POLICY_MAX_FILES)
        return 0; /* already failed closed */
    if (p->nfiles == CS_POLICY_MAX_FILES) {
        char error[80], msg[200];
        snprintf(error, sizeof(error), "more than %d policy files", CS_POLICY_MAX_FILES);
        snprintf(msg, sizeof(msg), "%s, so everything is denied to every app until there are fewer",
                 error);
        return add_broken_file(p, path, level, error, msg, false);
    }
    cs_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && unsafe_owner(&sb))
        return ownership_problem(p, path, level, &sb);

    cs_policy_file *f = add_file(p, path, level);
    if (!f)
        return -ENOMEM;

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
    findings errors = {0};
    if (rc < 0)
        found(&errors, &err);
    else
        check_file(root, path, &errors);
    if (errors.total) {
        json_decref(root);
        rc = report(p, f, 'f', NULL, &errors, "every app");
        findings_free(&errors);
        return rc;
    }
    f->root = root;
    rc = check_repository_files(p, f, root);
    return rc < 0 ? rc : check_scopes(p, f, root);
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
        return ownership_problem(p, dir, level, &sb);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, only_json, by_name);
    if (n < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "cannot list the folder: %s; everything is denied",
                 strerror(errno));
        /* An unreadable level fails closed, like a broken file. */
        return add_broken_file(p, dir, level, strerror(errno), msg, false);
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
        return cs_error_set(err, errno,
                            "policy: cannot read %s: %s; name an existing policy folder or file "
                            "with --policy or CASHSTORY_POLICY",
                            location, strerror(errno));
    }
    if (!(policy->location = strdup(location)))
        return cs_error_set(err, ENOMEM, "out of memory");
    int rc;
    if (S_ISDIR(sb.st_mode)) {
        if (unsafe_owner(&sb)) {
            rc = ownership_problem(policy, location, CS_POLICY_MANAGED, &sb);
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
