#include "launcher/launch.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "package/store.h"
#include "update/runtime.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void step(const cs_launch_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void step(const cs_launch_request *r, const char *fmt, ...)
{
    if (!r->log || !r->verbose)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = 0;
    if (r->log_start)
        ms = (double)(now.tv_sec - r->log_start->tv_sec) * 1e3 +
             (double)(now.tv_nsec - r->log_start->tv_nsec) / 1e6;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    fprintf(r->log, "[%8.1f ms] %s\n", ms, line);
}

int cs_launch_find_host(char *out, size_t size, cs_error *err)
{
    const char *env = getenv("CASHSTORY_APP_HOST");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return access(out, X_OK) == 0
                   ? 0
                   : cs_error_errno(err, errno, "CASHSTORY_APP_HOST %s is not executable", env);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return cs_error_errno(err, errno, "cannot find this program's path");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    static const char *const candidates[] = {"cashstory-app", "src/app/cashstory-app",
                                             "../lib/cashstory/cashstory-app"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        snprintf(out, size, "%s/%s", self, candidates[i]);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return cs_error_set(err, ENOENT,
                        "cannot find the app host cashstory-app next to %s; set CASHSTORY_APP_HOST",
                        self);
}

static int read_manifest(cs_launch *l, cs_error *err)
{
    return cs_manifest_load(AT_FDCWD, l->app_dir, &l->manifest, err);
}

static int verify_app(const cs_launch_request *r, cs_launch *l, cs_error *err)
{
    const char *target = r->target;
    int rc;
    if (r->dev) {
        if (!realpath(target, l->app_dir))
            return cs_error_errno(err, errno, "cannot open the developer folder %s", target);
        return read_manifest(l, err);
    }

    struct stat sb;
    size_t tlen = strlen(target);
    bool csa_name = tlen > 4 && strcmp(target + tlen - 4, ".csa") == 0;
    if (stat(target, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cs_error_set(err, EINVAL,
                            "%s is a folder; run an unsigned folder with --dev, or pack and "
                            "install it first",
                            target);
    if (csa_name && stat(target, &sb) < 0)
        return cs_error_errno(err, errno, "cannot open the package %s", target);
    if (!csa_name && cs_app_id_check(target, NULL) == 0 && stat(target, &sb) < 0) {
        cs_autofree char *path = NULL;
        /* A version an update staged for the next start becomes current
         * now. Without write access to the store, the current one runs. */
        bool activated = false;
        cs_store_activate_next(r->store, target, &activated, NULL);
        if (activated && r->log) {
            cs_autofree char *version = NULL;
            cs_store_link_version(r->store, target, "current", NULL, &version, NULL);
            fprintf(r->log, "%s: switched to version %s, which the last update staged\n", target,
                    version ? version : "(unreadable)");
        }
        rc = cs_store_app_path(r->store, target, &path, err);
        if (rc < 0)
            return rc;
        if (!realpath(path, l->app_dir))
            return cs_error_errno(err, errno, "cannot resolve %s", path);
        rc = cs_verify_dir(l->app_dir, r->trust, &l->verified, err);
    } else {
        const char *base = getenv("TMPDIR");
        snprintf(l->staging, sizeof(l->staging), "%s/cashstory-run-XXXXXX",
                 base && *base ? base : "/tmp");
        if (!mkdtemp(l->staging)) {
            l->staging[0] = '\0';
            return cs_error_errno(err, errno, "cannot create a temporary folder");
        }
        chmod(l->staging, 0755);
        snprintf(l->app_dir, sizeof(l->app_dir), "%s", l->staging);
        cs_autoclose int fd = open(l->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = cs_verify_archive(target, r->trust, fd, &l->verified, err);
    }
    if (rc < 0) {
        if ((rc == -CS_EVERIFY || rc == -CS_EUNTRUSTED) && r->log) {
            for (size_t i = 0; i < l->verified.report.stored; i++) {
                char *p = l->verified.report.problems[i];
                fprintf(r->log, "problem: ");
                for (; *p; p++)
                    fputc((unsigned char)*p < 0x20 ? '?' : *p, r->log);
                fputc('\n', r->log);
            }
        }
        if (r->log)
            return cs_error_set(err, -rc,
                                "%s failed verification and was not started (%zu "
                                "problem%s above)",
                                target, l->verified.report.count,
                                l->verified.report.count == 1 ? "" : "s");
        return cs_error_prefix(err, "%s failed verification and was not started", target);
    }
    cs_hex_encode(l->verified.index_sha256, CS_SHA256_LEN, l->index_hex);
    step(r, "verified %s %s: signature, signer (%s) and %llu files", l->verified.index.app_id,
         l->verified.index.version, l->verified.signer.trust_note,
         (unsigned long long)l->verified.files_checked);
    return read_manifest(l, err);
}

static int prepare_data_dir(const cs_launch_request *r, cs_launch *l, cs_error *err)
{
    /* Unsigned developer code never shares the data of an installed app that
     * declares the same id. */
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s/%s", r->store, r->dev ? "dev-data" : "data");
    /* The parents stay traversable for the app's host user; the app's own
     * folder is private to it. */
    int rc = cs_mkdir_p(parent, 0711, err);
    if (rc < 0)
        return cs_error_prefix(err, "data folder");
    char real[PATH_MAX];
    if (!realpath(parent, real))
        return cs_error_errno(err, errno, "cannot resolve %s", parent);
    snprintf(l->data_dir, sizeof(l->data_dir), "%s/%s", real, l->manifest.id);
    if (mkdir(l->data_dir, 0700) < 0 && errno != EEXIST)
        return cs_error_errno(err, errno, "cannot create the data folder %s", l->data_dir);
    uid_t uid;
    gid_t gid;
    cs_sandbox_host_ids(l->manifest.id, &uid, &gid);
    if (chown(l->data_dir, uid, gid) < 0 || chmod(l->data_dir, 0700) < 0)
        return cs_error_errno(err, errno, "cannot give the data folder %s to the app user",
                              l->data_dir);
    return 0;
}

static int build_identity(const cs_launch_request *r, cs_launch *l, cs_error *err)
{
    json_t *id = json_object();
    json_object_set_new(id, "appId", json_string(l->manifest.id));
    json_object_set_new(id, "instanceId", json_string(r->instance_id ? r->instance_id : ""));
    json_object_set_new(id, "version", json_string(l->manifest.version));
    json_object_set_new(id, "verified", json_boolean(!r->dev));
    if (r->dev) {
        json_object_set_new(id, "publisher", json_null());
        json_object_set_new(id, "origin", json_null());
        json_object_set_new(id, "packageDigest", json_null());
    } else {
        const cs_signer *s = &l->verified.signer;
        json_t *pub = json_pack("{s:s, s:s}", "type",
                                s->type == CS_SIGNER_X509 ? "x509" : "ed25519", "keyId", s->key_id);
        if (s->type == CS_SIGNER_X509)
            json_object_set_new(pub, "subject", json_string(s->subject));
        json_object_set_new(id, "publisher", pub);
        json_object_set_new(id, "packageDigest", json_string(l->index_hex));

        /* The origin the installer recorded; a .csa run directly has its
         * file as the origin. */
        json_t *origin = NULL;
        if (!l->staging[0]) {
            char path[PATH_MAX + 32];
            snprintf(path, sizeof(path), "%s/%s", l->app_dir, CS_META_ORIGIN);
            json_t *recorded = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
            const char *url = json_string_value(json_object_get(recorded, "url"));
            const char *protocol = json_string_value(json_object_get(recorded, "protocol"));
            if (url && protocol)
                origin = json_pack("{s:s, s:s}", "url", url, "protocol", protocol);
            json_decref(recorded);
        } else {
            char real[PATH_MAX], url[PATH_MAX + 8];
            if (realpath(r->target, real)) {
                snprintf(url, sizeof(url), "file://%s", real);
                origin = json_pack("{s:s, s:s}", "url", url, "protocol", "file");
            }
        }
        json_object_set_new(id, "origin", origin ? origin : json_null());
    }
    l->identity_json = json_dumps(id, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(id);
    if (!l->identity_json)
        return cs_error_set(err, EINVAL, "cannot encode the bus identity of %s", l->manifest.id);
    return 0;
}

void cs_launch_subject(const cs_launch *l, const char *home, cs_policy_subject *subj)
{
    const cs_signer *s = &l->verified.signer;
    *subj = (cs_policy_subject){
        .app_id = l->manifest.id,
        .version = l->manifest.version,
        .publisher_key = !l->dev && s->key_id[0] ? s->key_id : NULL,
        .publisher_cert = !l->dev && s->type == CS_SIGNER_X509 ? s->cert_sha256 : NULL,
        .publisher_subject = !l->dev && s->type == CS_SIGNER_X509 ? s->subject : NULL,
        .home = home,
        .app_data = l->data_dir,
    };
}

static void note(cs_policy_log *log, FILE *steps, const char *app_id, const char *permission,
                 const cs_policy_decision *d)
{
    cs_policy_record(log, app_id, permission, d);
    /* The policy log prints denials itself. */
    if (steps && (d->granted || !log)) {
        fputs("policy: ", steps);
        for (const char *p = d->reason; *p; p++)
            fputc((unsigned char)*p < 0x20 ? '?' : *p, steps);
        fputc('\n', steps);
    }
}

static int bus_grants(const cs_policy *policy, const cs_policy_subject *subj, json_t *bus,
                      const char *direction, cs_policy_log *log, FILE *steps, char ***out,
                      size_t *count, cs_error *err)
{
    json_t *requested = bus ? json_object_get(bus, direction) : NULL;
    size_t n = json_array_size(requested);
    char **list = calloc(n ? n : 1, sizeof(char *));
    if (!list)
        return cs_error_set(err, ENOMEM, "out of memory");
    *out = list;
    *count = 0;
    char permission[32];
    snprintf(permission, sizeof(permission), "bus.%s", direction);
    size_t i;
    json_t *item;
    json_array_foreach(requested, i, item)
    {
        cs_policy_decision d;
        cs_policy_bus(policy, subj, direction, json_string_value(item), &d);
        note(log, steps, subj->app_id, permission, &d);
        if (!d.granted)
            continue;
        if (!(list[*count] = strdup(json_string_value(item))))
            return cs_error_set(err, ENOMEM, "out of memory");
        (*count)++;
    }
    return 0;
}

int cs_launch_evaluate(const cs_launch *l, const cs_policy *policy, const char *home,
                       cs_policy_log *log, FILE *steps, cs_launch_perms *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    cs_policy_subject subj;
    cs_launch_subject(l, home, &subj);
    cs_policy_may_run(policy, &subj, l->dev, &out->run);
    note(log, steps, subj.app_id, "run", &out->run);

    json_t *perms = l->manifest.permissions;
    json_t *fs = perms ? json_object_get(perms, "fs") : NULL;
    size_t i;
    json_t *request;
    json_array_foreach(fs, i, request)
    {
        const char *path = json_string_value(json_object_get(request, "path"));
        bool want_write =
            strcmp(json_string_value(json_object_get(request, "access")), "read-write") == 0;
        cs_policy_decision d;
        cs_policy_fs(policy, &subj, path, want_write, &d);
        note(log, steps, subj.app_id, "fs", &d);
        struct stat sb;
        if (!d.granted || strncmp(path, "${APP_DATA}", 11) == 0)
            continue;
        if (stat(d.path, &sb) < 0) {
            if (steps)
                fprintf(steps, "policy: %s is granted but does not exist; not mounted\n", d.path);
            continue;
        }
        if (out->nfs >= CS_LAUNCH_MAX_GRANTS)
            return cs_error_set(err, E2BIG, "%s: more than %d file-system grants", subj.app_id,
                                CS_LAUNCH_MAX_GRANTS);
        if (!(out->fs_paths[out->nfs] = strdup(d.path)))
            return cs_error_set(err, ENOMEM, "out of memory");
        out->fs_writable[out->nfs++] = d.writable;
    }

    json_t *bus = perms ? json_object_get(perms, "bus") : NULL;
    int rc;
    if ((rc = bus_grants(policy, &subj, bus, "publish", log, steps, &out->publish, &out->npublish,
                         err)) < 0 ||
        (rc = bus_grants(policy, &subj, bus, "subscribe", log, steps, &out->subscribe,
                         &out->nsubscribe, err)) < 0)
        return rc;

    json_t *net = perms ? json_object_get(perms, "net") : NULL;
    json_array_foreach(net, i, request)
    {
        cs_policy_decision d;
        cs_policy_net(policy, &subj, json_string_value(request), &d);
        note(log, steps, subj.app_id, "net", &d);
    }

    cs_policy_limits(policy, &subj, &out->limits);
    cs_policy_decision restart;
    cs_policy_flag(policy, &subj, "restart_on_policy_change", &restart);
    out->restart_on_change = restart.granted;
    return 0;
}

void cs_launch_perms_free(cs_launch_perms *p)
{
    for (size_t i = 0; i < p->nfs; i++)
        free(p->fs_paths[i]);
    for (size_t i = 0; p->publish && i < p->npublish; i++)
        free(p->publish[i]);
    free(p->publish);
    for (size_t i = 0; p->subscribe && i < p->nsubscribe; i++)
        free(p->subscribe[i]);
    free(p->subscribe);
    memset(p, 0, sizeof(*p));
}

bool cs_launch_perms_same_sandbox(const cs_launch_perms *a, const cs_launch_perms *b)
{
    if (a->nfs != b->nfs || a->limits.memory_bytes != b->limits.memory_bytes ||
        a->limits.max_pids != b->limits.max_pids || a->limits.cpu_percent != b->limits.cpu_percent)
        return false;
    for (size_t i = 0; i < a->nfs; i++)
        if (strcmp(a->fs_paths[i], b->fs_paths[i]) != 0 || a->fs_writable[i] != b->fs_writable[i])
            return false;
    return true;
}

static bool same_list(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

bool cs_launch_perms_same_bus(const cs_launch_perms *a, const cs_launch_perms *b)
{
    return same_list(a->publish, a->npublish, b->publish, b->npublish) &&
           same_list(a->subscribe, a->nsubscribe, b->subscribe, b->nsubscribe);
}

int cs_launch_prepare(const cs_launch_request *r, cs_launch *l, cs_error *err)
{
    memset(l, 0, sizeof(*l));
    int rc;
    l->dev = r->dev;
    if (r->napp_args > CS_LAUNCH_MAX_ARGS)
        return cs_error_set(err, E2BIG, "%zu arguments for the app; the limit is %d", r->napp_args,
                            CS_LAUNCH_MAX_ARGS);
    if ((rc = cs_launch_find_host(l->host, sizeof(l->host), err)) < 0 ||
        (rc = verify_app(r, l, err)) < 0)
        return rc;

    /* An app that names a runtime range runs on the newest runtime that
     * satisfies it: this build's, or a verified runtime package. */
    if (l->manifest.runtime) {
        cs_runtime_choice runtime;
        if ((rc = cs_runtime_select(r->store, l->manifest.runtime, r->trust, l->host, &runtime,
                                    err)) < 0)
            return cs_error_prefix(err, "%s", l->manifest.id);
        snprintf(l->host, sizeof(l->host), "%s", runtime.host);
        step(r, "runtime %s%s", runtime.version, runtime.installed ? " (installed package)" : "");
    }

    /* May the app run at all? Asked before its data folder is created. */
    cs_policy_subject subj;
    cs_launch_subject(l, r->home, &subj);
    cs_policy_decision run;
    cs_policy_may_run(r->policy, &subj, r->dev, &run);
    if (!run.granted) {
        /* The error reports the denial, so it is only audited here. */
        cs_policy_audit(r->policy_log, l->manifest.id, "run", &run);
        return cs_error_set(err, EPERM, "%s", run.reason);
    }

    if ((rc = prepare_data_dir(r, l, err)) < 0 ||
        (rc = cs_launch_evaluate(l, r->policy, r->home, r->policy_log, r->verbose ? r->log : NULL,
                                 &l->perms, err)) < 0 ||
        (rc = build_identity(r, l, err)) < 0)
        return rc;

    size_t argc = 0;
    const char **argv = l->host_argv;
    argv[argc++] = "--app";
    argv[argc++] = CS_SANDBOX_APP_DIR;
    argv[argc++] = "--data";
    argv[argc++] = CS_SANDBOX_DATA_DIR;
    if (r->dev) {
        argv[argc++] = "--dev";
    } else {
        argv[argc++] = "--index-sha256";
        argv[argc++] = l->index_hex;
    }
    if (r->bus) {
        argv[argc++] = "--bus-fd";
        argv[argc++] = "3";
    }
    for (size_t i = 0; i < l->perms.nfs; i++) {
        l->grants[i].path = l->perms.fs_paths[i];
        l->grants[i].writable = l->perms.fs_writable[i];
        snprintf(l->grant_args[i], sizeof(l->grant_args[i]), "%s:%s", l->perms.fs_paths[i],
                 l->perms.fs_writable[i] ? "rw" : "ro");
        argv[argc++] = "--grant";
        argv[argc++] = l->grant_args[i];
    }
    uid_t host_uid;
    gid_t host_gid;
    cs_sandbox_host_ids(l->manifest.id, &host_uid, &host_gid);
    step(r,
         "identity: app user %d in the sandbox is uid %u, gid %u on the host (read-write grants "
         "must be writable by it)",
         CS_SANDBOX_APP_UID, (unsigned)host_uid, (unsigned)host_gid);
    json_t *perms = l->manifest.permissions;
    if (perms && json_object_get(perms, "net"))
        step(r, "net: requested, but network access is not supported yet; the app has none");
    if (l->manifest.windows)
        step(r, "windows: requested, but windows are not supported yet; none open");
    argv[argc++] = "--";
    for (size_t i = 0; i < r->napp_args && i < CS_LAUNCH_MAX_ARGS; i++)
        argv[argc++] = r->app_args[i];
    argv[argc] = NULL;

    l->config = (cs_sandbox_config){
        .app_id = l->manifest.id,
        .app_dir = l->app_dir,
        .data_dir = l->data_dir,
        .grants = l->grants,
        .ngrants = l->perms.nfs,
        .host_binary = l->host,
        .host_argv = l->host_argv,
        .verbose = r->verbose,
        .log_start = r->log_start,
        .bus_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
        .limits = l->perms.limits,
    };
    return 0;
}

void cs_launch_free(cs_launch *l)
{
    if (l->staging[0]) {
        cs_autofree char *parent = cs_dirname(l->staging);
        cs_autoclose int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0)
            cs_remove_tree_at(pfd, strrchr(l->staging, '/') + 1);
        l->staging[0] = '\0';
    }
    cs_manifest_free(&l->manifest);
    cs_verify_result_free(&l->verified);
    cs_launch_perms_free(&l->perms);
    free(l->identity_json);
    l->identity_json = NULL;
}
