/* Deciding requests against the loaded policy files. */
#include "policy/internal.h"

#include "bus/broker.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "crypto/trust.h"
#include "package/semver.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One block of settings that applies to the subject. */
typedef struct scope {
    const cs_policy_file *file;
    json_t *block;
    int score; /* level * 4 + rank: defaults 0, publisher 1, id pattern 2, exact id 3 */
    char label[600];
} scope;

typedef struct scopes {
    scope *items;
    size_t n;
    const cs_policy_file *broken_file; /* first broken file or scope covering the subject */
    const cs_policy_broken *broken;
} scopes;

static const char *level_name(cs_policy_level level)
{
    return level == CS_POLICY_MANAGED ? "managed" : "recommended";
}

static bool id_matches(const char *pattern, const char *id)
{
    if (!id)
        return false;
    if (strcmp(pattern, "*") == 0)
        return true;
    size_t n = strlen(pattern);
    if (n > 2 && strcmp(pattern + n - 2, ".*") == 0)
        return strncmp(id, pattern, n - 1) == 0 && id[n - 1] != '\0';
    return strcmp(pattern, id) == 0;
}

static bool publisher_matches(const char *selector, const cs_policy_subject *s)
{
    if (strlen(selector) == 64 && strspn(selector, "0123456789abcdef") == 64)
        return (s->publisher_key && strcmp(s->publisher_key, selector) == 0) ||
               (s->publisher_cert && strcmp(s->publisher_cert, selector) == 0);
    return s->publisher_subject && strcmp(s->publisher_subject, selector) == 0;
}

static void add_scope(scopes *s, const cs_policy_file *f, json_t *block, int rank, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));

static void add_scope(scopes *s, const cs_policy_file *f, json_t *block, int rank, const char *fmt,
                      ...)
{
    scope *items = realloc(s->items, (s->n + 1) * sizeof(*items));
    if (!items) {
        /* Out of memory: fail closed by pretending the file is broken. */
        static const cs_policy_broken oom = {'f', NULL, "out of memory while reading policy"};
        s->broken_file = f;
        s->broken = &oom;
        return;
    }
    s->items = items;
    scope *sc = &items[s->n++];
    sc->file = f;
    sc->block = block;
    sc->score = (int)f->level * 4 + rank;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sc->label, sizeof(sc->label), fmt, ap);
    va_end(ap);
}

static void collect(const cs_policy *p, const cs_policy_subject *subj, scopes *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < p->nfiles; i++) {
        const cs_policy_file *f = &p->files[i];
        for (size_t j = 0; j < f->nbroken && !s->broken; j++) {
            const cs_policy_broken *b = &f->broken[j];
            if (b->kind == 'f' || b->kind == 'd' ||
                (b->kind == 'p' && publisher_matches(b->key, subj)) ||
                (b->kind == 'a' && id_matches(b->key, subj->app_id))) {
                s->broken_file = f;
                s->broken = b;
            }
        }
        if (!f->root)
            continue;
        json_t *defaults = json_object_get(f->root, "defaults");
        if (defaults)
            add_scope(s, f, defaults, 0, "defaults");
        const char *key;
        json_t *block;
        json_object_foreach(json_object_get(f->root, "publishers"), key, block)
        {
            if (publisher_matches(key, subj))
                add_scope(s, f, block, 1, "publishers.\"%s\"", key);
        }
        json_object_foreach(json_object_get(f->root, "apps"), key, block)
        {
            if (subj->app_id && strcmp(key, subj->app_id) == 0)
                add_scope(s, f, block, 3, "apps.\"%s\"", key);
            else if (id_matches(key, subj->app_id))
                add_scope(s, f, block, 2, "apps.\"%s\"", key);
        }
    }
}

static void scopes_free(scopes *s)
{
    free(s->items);
}

/* Deny because a file or scope covering the subject is broken. */
static bool deny_if_broken(const scopes *s, const cs_policy_subject *subj, cs_policy_decision *d)
{
    if (!s->broken)
        return false;
    d->granted = false;
    d->writable = false;
    snprintf(d->file, sizeof(d->file), "%s", s->broken_file->path);
    const cs_policy_broken *b = s->broken;
    if (b->kind == 'f')
        snprintf(d->rule, sizeof(d->rule), "the whole file (it has an error)");
    else if (b->kind == 'd')
        snprintf(d->rule, sizeof(d->rule), "defaults (it has an error)");
    else
        snprintf(d->rule, sizeof(d->rule), "%s.\"%s\" (it has an error)",
                 b->kind == 'a' ? "apps" : "publishers", b->key);
    snprintf(d->reason, sizeof(d->reason),
             "denied %s for %s: policy %s cannot be used (%s), so everything it covers is denied "
             "until it is fixed",
             d->target, subj->app_id ? subj->app_id : "the app", s->broken_file->path, b->error);
    return true;
}

static void explain(cs_policy_decision *d, const cs_policy_subject *subj, const scope *sc,
                    const char *setting, size_t index, const char *value, const char *what)
{
    if (!sc) {
        d->file[0] = '\0';
        snprintf(d->rule, sizeof(d->rule), "no rule");
        snprintf(d->reason, sizeof(d->reason), "%s %s for %s: %s",
                 d->granted ? "granted" : "denied", d->target,
                 subj->app_id ? subj->app_id : "the app", what);
        return;
    }
    snprintf(d->file, sizeof(d->file), "%s", sc->file->path);
    snprintf(d->rule, sizeof(d->rule), "%s %s.%s[%zu] = \"%s\"", level_name(sc->file->level),
             sc->label, setting, index, value);
    snprintf(d->reason, sizeof(d->reason), "%s%s %s for %s by policy %s, rule %s",
             d->granted ? "granted" : "denied", what, d->target,
             subj->app_id ? subj->app_id : "the app", sc->file->path, d->rule);
}

/* ---- Lists of allow and deny patterns (bus topics, network hosts) ---- */

typedef bool (*match_fn)(const char *rule, const char *request);

static void decide_list(const cs_policy *p, const cs_policy_subject *subj, const char *section,
                        const char *allow_key, const char *deny_key, const char *request,
                        match_fn covers, match_fn overlaps, cs_policy_decision *d)
{
    scopes s;
    collect(p, subj, &s);
    if (deny_if_broken(&s, subj, d)) {
        scopes_free(&s);
        return;
    }
    const scope *best = NULL;
    bool best_deny = false;
    size_t best_index = 0;
    const char *best_value = NULL;
    for (size_t i = 0; i < s.n; i++) {
        json_t *sec = json_object_get(s.items[i].block, section);
        for (int deny = 0; sec && deny < 2; deny++) {
            size_t j;
            json_t *v;
            json_array_foreach(json_object_get(sec, deny ? deny_key : allow_key), j, v)
            {
                const char *rule = json_string_value(v);
                if (!(deny ? overlaps(rule, request) : covers(rule, request)))
                    continue;
                if (!best || s.items[i].score > best->score ||
                    (s.items[i].score == best->score && deny && !best_deny)) {
                    best = &s.items[i];
                    best_deny = deny;
                    best_index = j;
                    best_value = rule;
                }
            }
        }
    }
    d->granted = best && !best_deny;
    char setting[128];
    snprintf(setting, sizeof(setting), "%s.%s", section, best && best_deny ? deny_key : allow_key);
    const char *no_rule =
        p->present ? "no policy rule grants it" : "no policy files exist to grant it";
    explain(d, subj, best, setting, best_index, best_value, best ? "" : no_rule);
    scopes_free(&s);
}

/* Two topic patterns overlap when one topic can match both. */
static bool topics_overlap(const char *a, const char *b)
{
    while (*a && *b) {
        size_t na = strcspn(a, "/"), nb = strcspn(b, "/");
        bool star = (na == 1 && *a == '*') || (nb == 1 && *b == '*');
        if (!star && (na != nb || strncmp(a, b, na) != 0))
            return false;
        a += na;
        b += nb;
        if (*a != *b)
            return false;
        if (*a == '/') {
            a++;
            b++;
        }
    }
    return *a == '\0' && *b == '\0';
}

static bool topic_covers(const char *rule, const char *request)
{
    return cs_bus_pattern_covered(rule, request);
}

void cs_policy_bus(const cs_policy *p, const cs_policy_subject *subj, const char *direction,
                   const char *pattern, cs_policy_decision *d)
{
    memset(d, 0, sizeof(*d));
    bool publish = strcmp(direction, "publish") == 0;
    snprintf(d->target, sizeof(d->target), "bus %s '%s'", publish ? "publish" : "subscribe",
             pattern);
    decide_list(p, subj, "bus", publish ? "publish" : "subscribe",
                publish ? "deny_publish" : "deny_subscribe", pattern, topic_covers, topics_overlap,
                d);
}

/* A host pattern split into its parts; no port means 443. */
typedef struct host_pattern {
    bool wildcard;
    char name[256];
    unsigned port;
} host_pattern;

static void parse_host(const char *text, host_pattern *h)
{
    h->wildcard = strncmp(text, "*.", 2) == 0;
    const char *name = h->wildcard ? text + 2 : text;
    size_t n = strcspn(name, ":");
    snprintf(h->name, sizeof(h->name), "%.*s", (int)(n < 255 ? n : 255), name);
    h->port = name[n] == ':' ? (unsigned)strtoul(name + n + 1, NULL, 10) : 443;
}

static bool host_covers(const char *rule_text, const char *request_text)
{
    host_pattern rule, req;
    parse_host(rule_text, &rule);
    parse_host(request_text, &req);
    if (rule.port != req.port)
        return false;
    if (!rule.wildcard)
        return !req.wildcard && strcmp(rule.name, req.name) == 0;
    size_t rn = strlen(rule.name), qn = strlen(req.name);
    if (req.wildcard && strcmp(rule.name, req.name) == 0)
        return true;
    return qn > rn + 1 && req.name[qn - rn - 1] == '.' &&
           strcmp(req.name + qn - rn, rule.name) == 0;
}

static bool hosts_overlap(const char *a, const char *b)
{
    return host_covers(a, b) || host_covers(b, a);
}

void cs_policy_net(const cs_policy *p, const cs_policy_subject *subj, const char *host,
                   cs_policy_decision *d)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->target, sizeof(d->target), "net '%s'", host);
    decide_list(p, subj, "net", "allow", "deny", host, host_covers, hosts_overlap, d);
}

/* ---- File system ---- */

static void expand(const char *path, const cs_policy_subject *subj, char *out, size_t size)
{
    if (strcmp(path, "~") == 0 || strncmp(path, "~/", 2) == 0)
        snprintf(out, size, "%s%s", subj->home && *subj->home ? subj->home : "/nonexistent",
                 path + 1);
    else if (strncmp(path, "${APP_DATA}", 11) == 0)
        snprintf(out, size, "%s%s", subj->app_data ? subj->app_data : "/nonexistent/app-data",
                 path + 11);
    else
        snprintf(out, size, "%s", path);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
}

/* Follow symbolic links, so that decisions are about the real location. A
 * path that does not exist keeps its spelling. */
static void resolve(const char *path, char *out, size_t size)
{
    char real[PATH_MAX];
    snprintf(out, size, "%s", realpath(path, real) ? real : path);
}

static bool is_within(const char *path, const char *base)
{
    size_t n = strlen(base);
    if (n == 1 && base[0] == '/')
        return path[0] == '/';
    return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void cs_policy_fs(const cs_policy *p, const cs_policy_subject *subj, const char *path,
                  bool want_write, cs_policy_decision *d)
{
    memset(d, 0, sizeof(*d));
    char expanded[PATH_MAX];
    expand(path, subj, expanded, sizeof(expanded));
    char resolved[PATH_MAX];
    resolve(expanded, resolved, sizeof(resolved));
    snprintf(d->target, sizeof(d->target), "fs %s '%s'", want_write ? "read-write" : "read",
             resolved);
    snprintf(d->path, sizeof(d->path), "%s", resolved);

    char data[PATH_MAX] = "";
    if (subj->app_data)
        resolve(subj->app_data, data, sizeof(data));
    if ((strncmp(path, "${APP_DATA}", 11) == 0 && (path[11] == '\0' || path[11] == '/')) ||
        (data[0] && is_within(resolved, data))) {
        d->granted = is_within(resolved, data[0] ? data : expanded);
        d->writable = d->granted && want_write;
        explain(d, subj, NULL, "", 0, "",
                d->granted ? "the app's own data folder is always available"
                           : "the path leaves the app's data folder");
        return;
    }

    scopes s;
    collect(p, subj, &s);
    if (deny_if_broken(&s, subj, d)) {
        scopes_free(&s);
        return;
    }
    /* First the highest score among matching rules, then the decision among
     * the rules with that score. */
    int best = -1;
    for (int pass = 0; pass < 2; pass++) {
        const scope *deny_scope = NULL, *allow_scope = NULL;
        size_t deny_index = 0, allow_index = 0;
        const char *deny_value = NULL, *allow_value = NULL;
        size_t allow_len = 0;
        bool all_write = true;
        for (size_t i = 0; i < s.n; i++) {
            const scope *sc = &s.items[i];
            if (pass == 1 && sc->score != best)
                continue;
            size_t j;
            json_t *rule;
            json_array_foreach(json_object_get(sc->block, "fs"), j, rule)
            {
                const char *rpath = json_string_value(json_object_get(rule, "path"));
                const char *access = json_string_value(json_object_get(rule, "access"));
                char rexp[PATH_MAX], rres[PATH_MAX];
                expand(rpath, subj, rexp, sizeof(rexp));
                resolve(rexp, rres, sizeof(rres));
                bool deny = strcmp(access, "deny") == 0;
                bool match = deny ? is_within(resolved, rres) || is_within(rres, resolved)
                                  : is_within(resolved, rres);
                if (!match)
                    continue;
                if (pass == 0) {
                    if (sc->score > best)
                        best = sc->score;
                    continue;
                }
                if (deny && !deny_scope) {
                    deny_scope = sc;
                    deny_index = j;
                    deny_value = rpath;
                } else if (!deny) {
                    size_t len = strlen(rres);
                    if (!allow_scope || len > allow_len) {
                        allow_scope = sc;
                        allow_index = j;
                        allow_value = rpath;
                        allow_len = len;
                        all_write = strcmp(access, "read-write") == 0;
                    } else if (len == allow_len && strcmp(access, "read-write") != 0) {
                        /* Same folder, read and read-write: read wins. */
                        allow_scope = sc;
                        allow_index = j;
                        allow_value = rpath;
                        all_write = false;
                    }
                }
            }
        }
        if (pass == 0 && best < 0)
            break;
        if (pass == 1) {
            if (deny_scope) {
                d->granted = false;
                explain(d, subj, deny_scope, "fs", deny_index, deny_value, "");
            } else {
                d->granted = true;
                d->writable = want_write && all_write;
                if (want_write && !all_write)
                    snprintf(d->target, sizeof(d->target), "fs read '%s' (read-write requested)",
                             resolved);
                explain(d, subj, allow_scope, "fs", allow_index, allow_value, "");
            }
        }
    }
    if (best < 0) {
        d->granted = false;
        explain(d, subj, NULL, "", 0, "",
                p->present ? "no policy rule grants it" : "no policy files exist to grant it");
    }
    scopes_free(&s);
}

/* ---- Single values ---- */

bool cs_policy_later_wins(const char *name, json_t *later, json_t *earlier)
{
    if (json_equal(later, earlier))
        return true;
    /* A flag is a key of the scope itself; false wins. */
    if (!strchr(name, '.'))
        return json_is_false(later);
    if (strncmp(name, "limits.", 7) == 0 || strcmp(name, "update.rollout_percent") == 0)
        return json_integer_value(later) < json_integer_value(earlier);
    if (strcmp(name, "versions.minimum") == 0 && cs_semver_valid(json_string_value(later)) &&
        cs_semver_valid(json_string_value(earlier)))
        return cs_semver_compare(json_string_value(later), json_string_value(earlier)) > 0;
    return true;
}

/* The deciding value of section.key (section NULL for a key of the block
 * itself) and the scope it came from, or NULL. */
static json_t *setting(const scopes *s, const char *section, const char *key, const scope **from)
{
    char name[128];
    snprintf(name, sizeof(name), "%s%s%s", section ? section : "", section ? "." : "", key);
    json_t *best = NULL;
    const scope *best_scope = NULL;
    for (size_t i = 0; i < s->n; i++) {
        json_t *block = section ? json_object_get(s->items[i].block, section) : s->items[i].block;
        json_t *v = block ? json_object_get(block, key) : NULL;
        if (!v)
            continue;
        /* Scopes are collected in file order, so v comes from a later file. */
        bool take = !best || s->items[i].score > best_scope->score ||
                    (s->items[i].score == best_scope->score && cs_policy_later_wins(name, v, best));
        if (take) {
            best = v;
            best_scope = &s->items[i];
        }
    }
    if (from)
        *from = best_scope;
    return best;
}

static bool flag_default(const cs_policy *p, const char *name)
{
    if (strcmp(name, "restart_on_policy_change") == 0)
        return true;
    /* A machine without any policy file is a developer's machine. */
    return !p->present &&
           (strcmp(name, "developer_mode") == 0 || strcmp(name, "unsigned_folders") == 0);
}

void cs_policy_flag(const cs_policy *p, const cs_policy_subject *subj, const char *name,
                    cs_policy_decision *d)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->target, sizeof(d->target), "%s", name);
    scopes s;
    collect(p, subj, &s);
    if (deny_if_broken(&s, subj, d)) {
        scopes_free(&s);
        return;
    }
    const scope *from;
    json_t *v = setting(&s, NULL, name, &from);
    if (v) {
        d->granted = json_is_true(v);
        snprintf(d->file, sizeof(d->file), "%s", from->file->path);
        snprintf(d->rule, sizeof(d->rule), "%s %s.%s = %s", level_name(from->file->level),
                 from->label, name, d->granted ? "true" : "false");
        snprintf(d->reason, sizeof(d->reason), "%s %s for %s by policy %s, rule %s",
                 d->granted ? "allowed" : "denied", name, subj->app_id ? subj->app_id : "the app",
                 from->file->path, d->rule);
    } else {
        d->granted = flag_default(p, name);
        snprintf(d->rule, sizeof(d->rule), "built-in default");
        snprintf(d->reason, sizeof(d->reason), "%s %s for %s: %s",
                 d->granted ? "allowed" : "denied", name, subj->app_id ? subj->app_id : "the app",
                 p->present ? "no policy sets it; the default applies"
                            : "no policy files exist; the default applies");
    }
    scopes_free(&s);
}

void cs_policy_limits(const cs_policy *p, const cs_policy_subject *subj, cs_sandbox_limits *limits)
{
    limits->memory_bytes = CS_SANDBOX_DEFAULT_MEMORY;
    limits->max_pids = CS_SANDBOX_DEFAULT_PIDS;
    limits->cpu_percent = CS_SANDBOX_DEFAULT_CPU_PERCENT;
    scopes s;
    collect(p, subj, &s);
    json_t *v;
    if ((v = setting(&s, "limits", "memory_mb", NULL)))
        limits->memory_bytes = (uint64_t)json_integer_value(v) * 1024 * 1024;
    if ((v = setting(&s, "limits", "processes", NULL)))
        limits->max_pids = (uint64_t)json_integer_value(v);
    if ((v = setting(&s, "limits", "cpu_percent", NULL)))
        limits->cpu_percent = (unsigned)json_integer_value(v);
    scopes_free(&s);
}

static void copy_string(char *out, size_t size, json_t *v)
{
    if (v)
        snprintf(out, size, "%s", json_string_value(v));
}

static void update_settings(const cs_policy *p, const cs_policy_subject *subj,
                            cs_policy_update *out, scopes *s)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->channel, sizeof(out->channel), "stable");
    out->rollout_percent = 100;
    out->grace_seconds = 60;
    collect(p, subj, s);
    copy_string(out->channel, sizeof(out->channel), setting(s, "update", "channel", NULL));
    copy_string(out->window, sizeof(out->window), setting(s, "update", "window", NULL));
    copy_string(out->repository, sizeof(out->repository), setting(s, "update", "repository", NULL));
    copy_string(out->pinned, sizeof(out->pinned), setting(s, "versions", "pinned", NULL));
    copy_string(out->minimum, sizeof(out->minimum), setting(s, "versions", "minimum", NULL));
    copy_string(out->range, sizeof(out->range), setting(s, "versions", "range", NULL));
    json_t *v;
    if ((v = setting(s, "update", "apply", NULL)))
        out->at_next_start = strcmp(json_string_value(v), "next-start") == 0;
    if ((v = setting(s, "update", "rollout_percent", NULL)))
        out->rollout_percent = (unsigned)json_integer_value(v);
    if ((v = setting(s, "update", "auto_rollback", NULL)))
        out->auto_rollback = json_is_true(v);
    if ((v = setting(s, "update", "grace_seconds", NULL)))
        out->grace_seconds = (unsigned)json_integer_value(v);
    if (s->broken) {
        /* A broken scope stops updates for the apps it covers. */
        out->rollout_percent = 0;
        const char *file = s->broken_file->path;
        if (strncmp(s->broken->error, file, strlen(file)) == 0)
            snprintf(out->denied, sizeof(out->denied), "policy %s", s->broken->error);
        else
            snprintf(out->denied, sizeof(out->denied), "policy %s: %s", file, s->broken->error);
    }
    if (!out->repository[0]) {
        cs_policy_repository repos[2];
        if (cs_policy_repositories(p, repos, 2) == 1)
            snprintf(out->repository, sizeof(out->repository), "%s", repos[0].name);
    }
}

void cs_policy_update_settings(const cs_policy *p, const char *app_id, const char *publisher,
                               cs_policy_update *out)
{
    cs_policy_subject subj = {
        .app_id = app_id,
        .publisher_key = publisher,
        .publisher_cert = publisher,
        .publisher_subject = publisher,
    };
    scopes s;
    update_settings(p, &subj, out, &s);
    scopes_free(&s);
}

static int by_repo_name(const void *a, const void *b)
{
    return strcmp(((const cs_policy_repository *)a)->name, ((const cs_policy_repository *)b)->name);
}

size_t cs_policy_repositories(const cs_policy *p, cs_policy_repository *out, size_t max)
{
    size_t n = 0;
    int levels[2] = {CS_POLICY_RECOMMENDED, CS_POLICY_MANAGED};
    /* Recommended first, so that managed entries of the same name replace them. */
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < p->nfiles; i++) {
            const cs_policy_file *f = &p->files[i];
            if (!f->root || (int)f->level != levels[l])
                continue;
            const char *name;
            json_t *r;
            json_object_foreach(json_object_get(f->root, "repositories"), name, r)
            {
                size_t k = 0;
                while (k < n && strcmp(out[k].name, name) != 0)
                    k++;
                if (k == n) {
                    if (n == max)
                        continue;
                    n++;
                }
                cs_policy_repository *o = &out[k];
                memset(o, 0, sizeof(*o));
                snprintf(o->name, sizeof(o->name), "%s", name);
                copy_string(o->url, sizeof(o->url), json_object_get(r, "url"));
                copy_string(o->root, sizeof(o->root), json_object_get(r, "root"));
                copy_string(o->ca_file, sizeof(o->ca_file), json_object_get(r, "ca_file"));
                o->allow_http = json_is_true(json_object_get(r, "allow_http"));
            }
        }
    }
    qsort(out, n, sizeof(*out), by_repo_name);
    return n;
}

int cs_policy_add_trust(const cs_policy *p, cs_trust *trust, cs_error *err)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        const cs_policy_file *f = &p->files[i];
        json_t *t = f->root ? json_object_get(f->root, "trust") : NULL;
        if (!t)
            continue;
        cs_autofree char *base = cs_dirname(f->path);
        char where[600];
        snprintf(where, sizeof(where), "%s: trust", f->path);
        int rc =
            cs_trust_add_json(trust, json_object_get(t, "publishers"),
                              json_object_get(t, "ca_certificates"), where, base ? base : ".", err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void cs_policy_audit_settings_get(const cs_policy *p, cs_policy_audit_settings *out)
{
    memset(out, 0, sizeof(*out));
    out->max_bytes = 10ULL * 1024 * 1024;
    out->keep = 5;
    json_t *best = NULL;
    int best_level = -1;
    for (size_t i = 0; i < p->nfiles; i++) {
        const cs_policy_file *f = &p->files[i];
        json_t *a = f->root ? json_object_get(f->root, "audit") : NULL;
        if (a && (int)f->level >= best_level) {
            best = a;
            best_level = (int)f->level;
        }
    }
    if (!best)
        return;
    copy_string(out->path, sizeof(out->path), json_object_get(best, "path"));
    json_t *v;
    if ((v = json_object_get(best, "max_bytes")))
        out->max_bytes = (unsigned long long)json_integer_value(v);
    if ((v = json_object_get(best, "keep")))
        out->keep = (unsigned)json_integer_value(v);
}

/* ---- May the app run? ---- */

static bool run_selector_matches(const char *sel, const cs_policy_subject *subj)
{
    if (strncmp(sel, "publisher:", 10) == 0)
        return publisher_matches(sel + 10, subj);
    return id_matches(sel, subj->app_id);
}

static bool check_run_lists(const cs_policy *p, const cs_policy_subject *subj,
                            cs_policy_decision *d)
{
    const char *subject_text = subj->app_id ? subj->app_id : "the app";
    for (size_t i = 0; i < p->nfiles; i++) {
        const cs_policy_file *f = &p->files[i];
        if (!f->root)
            continue;
        json_t *trust = json_object_get(f->root, "trust");
        size_t j;
        json_t *v;
        json_array_foreach(trust ? json_object_get(trust, "blocked_publishers") : NULL, j, v)
        {
            if (!publisher_matches(json_string_value(v), subj))
                continue;
            snprintf(d->file, sizeof(d->file), "%s", f->path);
            snprintf(d->rule, sizeof(d->rule), "%s trust.blocked_publishers[%zu] = \"%s\"",
                     level_name(f->level), j, json_string_value(v));
            snprintf(d->reason, sizeof(d->reason),
                     "denied run for %s: its publisher is blocked by policy %s, rule %s",
                     subject_text, f->path, d->rule);
            return false;
        }
        json_t *run = json_object_get(f->root, "run");
        json_array_foreach(run ? json_object_get(run, "block") : NULL, j, v)
        {
            if (!run_selector_matches(json_string_value(v), subj))
                continue;
            snprintf(d->file, sizeof(d->file), "%s", f->path);
            snprintf(d->rule, sizeof(d->rule), "%s run.block[%zu] = \"%s\"", level_name(f->level),
                     j, json_string_value(v));
            snprintf(d->reason, sizeof(d->reason),
                     "denied run for %s: blocked by policy %s, rule %s", subject_text, f->path,
                     d->rule);
            return false;
        }
    }
    /* Allow lists: those of the highest level that has any decide. */
    for (int level = CS_POLICY_MANAGED; level >= CS_POLICY_RECOMMENDED; level--) {
        const cs_policy_file *listing = NULL;
        for (size_t i = 0; i < p->nfiles; i++) {
            const cs_policy_file *f = &p->files[i];
            json_t *run =
                f->root && (int)f->level == level ? json_object_get(f->root, "run") : NULL;
            json_t *allow = run ? json_object_get(run, "allow") : NULL;
            if (!allow)
                continue;
            listing = f;
            size_t j;
            json_t *v;
            json_array_foreach(allow, j, v)
            {
                if (!run_selector_matches(json_string_value(v), subj))
                    continue;
                snprintf(d->file, sizeof(d->file), "%s", f->path);
                snprintf(d->rule, sizeof(d->rule), "%s run.allow[%zu] = \"%s\"",
                         level_name(f->level), j, json_string_value(v));
                return true;
            }
        }
        if (listing) {
            snprintf(d->file, sizeof(d->file), "%s", listing->path);
            snprintf(d->rule, sizeof(d->rule), "%s run.allow", level_name(listing->level));
            snprintf(d->reason, sizeof(d->reason),
                     "denied run for %s: not in the run.allow list of policy %s", subject_text,
                     listing->path);
            return false;
        }
    }
    return true;
}

void cs_policy_may_run(const cs_policy *p, const cs_policy_subject *subj, bool dev,
                       cs_policy_decision *d)
{
    memset(d, 0, sizeof(*d));
    const char *subject_text = subj->app_id ? subj->app_id : "the app";
    snprintf(d->target, sizeof(d->target), "run");
    scopes s;
    cs_policy_update u;
    update_settings(p, subj, &u, &s);
    if (deny_if_broken(&s, subj, d)) {
        scopes_free(&s);
        return;
    }
    if (!check_run_lists(p, subj, d)) {
        scopes_free(&s);
        return;
    }
    const char *version_problem = NULL;
    char expected[300] = "";
    const char *key = NULL;
    if (subj->version && u.pinned[0] && strcmp(u.pinned, subj->version) != 0) {
        version_problem = "is pinned to";
        key = "pinned";
        snprintf(expected, sizeof(expected), "%s", u.pinned);
    } else if (subj->version && u.minimum[0] && cs_semver_valid(subj->version) &&
               cs_semver_compare(subj->version, u.minimum) < 0) {
        version_problem = "needs at least";
        key = "minimum";
        snprintf(expected, sizeof(expected), "%s", u.minimum);
    } else if (subj->version && u.range[0] && !cs_semver_range_match(u.range, subj->version)) {
        version_problem = "allows only the versions";
        key = "range";
        snprintf(expected, sizeof(expected), "%s", u.range);
    }
    if (version_problem) {
        const scope *from = NULL;
        setting(&s, "versions", key, &from);
        snprintf(d->file, sizeof(d->file), "%s", from ? from->file->path : "");
        snprintf(d->rule, sizeof(d->rule), "%s %s.versions.%s = \"%s\"",
                 from ? level_name(from->file->level) : "", from ? from->label : "", key, expected);
        snprintf(d->reason, sizeof(d->reason),
                 "denied run for %s: version %s is installed but policy %s %s %s (rule %s); "
                 "install an allowed version or roll back with 'cashstory rollback %s'",
                 subject_text, subj->version, d->file, version_problem, expected, d->rule,
                 subject_text);
        scopes_free(&s);
        return;
    }
    scopes_free(&s);

    if (dev) {
        static const char *const needed[] = {"developer_mode", "unsigned_folders", NULL};
        for (const char *const *n = needed; *n; n++) {
            cs_policy_decision flag;
            cs_policy_flag(p, subj, *n, &flag);
            if (!flag.granted) {
                snprintf(d->file, sizeof(d->file), "%s", flag.file);
                snprintf(d->rule, sizeof(d->rule), "%s", flag.rule);
                if (flag.file[0])
                    snprintf(d->reason, sizeof(d->reason),
                             "denied running the unsigned folder of %s in developer mode: "
                             "policy %s sets %s to false (rule %s)",
                             subject_text, flag.file, *n, flag.rule);
                else
                    snprintf(d->reason, sizeof(d->reason),
                             "denied running the unsigned folder of %s in developer mode: no "
                             "policy sets %s; set \"developer_mode\" and \"unsigned_folders\" to "
                             "true for this app in a policy file",
                             subject_text, *n);
                return;
            }
        }
    }
    d->granted = true;
    if (!d->rule[0])
        snprintf(d->rule, sizeof(d->rule), "no rule blocks it");
    snprintf(d->reason, sizeof(d->reason), "allowed run for %s: %s%s%s", subject_text, d->rule,
             d->file[0] ? " in " : "", d->file);
}
