/* Logging policy decisions: denials once per app, permission and target,
 * and an audit file of JSON lines that rotates by size. */
#include "policy/policy.h"

#include "common/cleanup.h"
#include "common/fsutil.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEEN_SLOTS 16384

struct cs_policy_log {
    FILE *out;
    cs_policy_log_fn sink; /* replaces out when set */
    void *sink_ctx;
    bool audit_failed; /* a write error was reported since the last configure */
    cs_policy_audit_settings audit;
    uint64_t *seen; /* hashes of (app, permission, target) already logged */
    size_t nseen;
};

cs_policy_log *cs_policy_log_new(FILE *out)
{
    cs_policy_log *log = calloc(1, sizeof(*log));
    if (!log)
        return NULL;
    log->seen = calloc(SEEN_SLOTS, sizeof(uint64_t));
    if (!log->seen) {
        free(log);
        return NULL;
    }
    log->out = out;
    return log;
}

void cs_policy_log_free(cs_policy_log *log)
{
    if (!log)
        return;
    free(log->seen);
    free(log);
}

void cs_policy_log_configure(cs_policy_log *log, const cs_policy *policy)
{
    if (!log)
        return;
    cs_policy_audit_settings_get(policy, &log->audit);
    log->audit_failed = false;
}

void cs_policy_log_set_sink(cs_policy_log *log, cs_policy_log_fn fn, void *ctx)
{
    log->sink = fn;
    log->sink_ctx = ctx;
}

static void emit(cs_policy_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(cs_policy_log *log, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (log->sink) {
        log->sink(log->sink_ctx, line);
    } else if (log->out) {
        fprintf(log->out, "%s\n", line);
        fflush(log->out);
    }
}

static uint64_t hash3(const char *a, const char *b, const char *c)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; p && *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h ? h : 1;
}

/* True the first time the key is seen. When the table is full, nothing
 * more is remembered and every further denial is logged. */
static bool first_time(cs_policy_log *log, uint64_t h)
{
    if (log->nseen >= SEEN_SLOTS * 3 / 4)
        return true;
    size_t slot = (size_t)(h % SEEN_SLOTS);
    while (log->seen[slot]) {
        if (log->seen[slot] == h)
            return false;
        slot = (slot + 1) % SEEN_SLOTS;
    }
    log->seen[slot] = h;
    log->nseen++;
    return true;
}

static void rotate(const cs_policy_audit_settings *a)
{
    char from[1100], to[1100];
    for (unsigned k = a->keep; k >= 2; k--) {
        snprintf(from, sizeof(from), "%s.%u", a->path, k - 1);
        snprintf(to, sizeof(to), "%s.%u", a->path, k);
        rename(from, to);
    }
    if (a->keep == 0) {
        unlink(a->path);
        return;
    }
    snprintf(to, sizeof(to), "%s.1", a->path);
    rename(a->path, to);
}

static int open_audit(const cs_policy_audit_settings *a)
{
    int fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ENOENT) {
        cs_autofree char *dir = cs_dirname(a->path);
        cs_error err = {0};
        if (dir && cs_mkdir_p(dir, 0700, &err) == 0)
            fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    return fd;
}

static void write_audit(cs_policy_log *log, const char *app_id, const char *permission,
                        const cs_policy_decision *d)
{
    const cs_policy_audit_settings *a = &log->audit;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "time", stamp, "app",
                             app_id ? app_id : "", "permission", permission, "target", d->target,
                             "decision", d->granted ? "granted" : "denied", "file", d->file, "rule",
                             d->rule, "reason", d->reason);
    cs_autofree char *text = line ? json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    text[len] = '\0';

    cs_autoclose int fd = open_audit(a);
    if (fd < 0) {
        /* Reported once until policy is loaded again, not once per line. */
        if (!log->audit_failed)
            emit(log,
                 "policy: cannot write the audit log %s: %s; decisions are not audited until "
                 "this is fixed",
                 a->path,
                 errno == ELOOP ? "it is a symbolic link, and the audit log must be a regular file"
                                : strerror(errno));
        log->audit_failed = true;
        return;
    }
    flock(fd, LOCK_EX);
    struct stat sb;
    if (fstat(fd, &sb) == 0 && (unsigned long long)sb.st_size + len + 1 > a->max_bytes &&
        sb.st_size > 0) {
        rotate(a);
        int fresh = open_audit(a);
        if (fresh >= 0) {
            flock(fresh, LOCK_EX);
            close(fd);
            fd = fresh;
        }
    }
    char *with_newline = malloc(len + 2);
    if (with_newline) {
        memcpy(with_newline, text, len);
        with_newline[len] = '\n';
        cs_write_all(fd, with_newline, len + 1);
        free(with_newline);
    }
}

static void record(cs_policy_log *log, const char *app_id, const char *permission,
                   const cs_policy_decision *d, bool print)
{
    if (!log)
        return;
    if (!d->granted && !first_time(log, hash3(app_id, permission, d->target)))
        return;
    if (!d->granted && print)
        emit(log, "policy: %s", d->reason);
    if (log->audit.path[0])
        write_audit(log, app_id, permission, d);
}

void cs_policy_record(cs_policy_log *log, const char *app_id, const char *permission,
                      const cs_policy_decision *d)
{
    record(log, app_id, permission, d, true);
}

void cs_policy_audit(cs_policy_log *log, const char *app_id, const char *permission,
                     const cs_policy_decision *d)
{
    record(log, app_id, permission, d, false);
}
