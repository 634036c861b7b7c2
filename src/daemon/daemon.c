/* cashstoryd: supervises sandboxed apps and brokers the messages between
 * them. It runs in the foreground and logs to standard error. */
#include "bus/broker.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "crypto/trust.h"
#include "daemon/control.h"
#include "launcher/launch.h"
#include "package/store.h"
#include "policy/policy.h"
#include "sandbox/sandbox.h"
#include "update/agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define LOG_LINES 1000
#define LINE_MAX_BYTES 4096
#define STOP_TIMEOUT_MS 5000
#define MAX_RESTARTS 5

typedef struct client client;

typedef struct output {
    uv_pipe_t pipe;
    struct app_instance *app;
    const char *stream; /* "stdout" or "stderr" */
    char partial[LINE_MAX_BYTES];
    size_t used;
    bool open;
    bool closing; /* uv_close called, its callback not run yet */
} output;

typedef struct app_instance {
    char app_id[129];
    char instance_id[33];
    char version[129];
    char **args;
    size_t nargs;
    bool restart_on_failure;
    int restarts;
    cs_launch launch;
    bool launched;
    cs_sandbox sandbox;
    time_t started;
    bool running;
    int status; /* exit status once not running */
    bool stopping;
    bool policy_restart; /* stopped because policy changed its sandbox: start again */
    uv_timer_t kill_timer;
    uv_timer_t restart_timer;
    output out, err;
    char *log[LOG_LINES];
    size_t log_first, log_count;
    struct app_instance *next;
} app_instance;

struct client {
    uv_pipe_t pipe;
    char *buf;
    size_t used;
    app_instance *following; /* logs -f */
    bool closing;
    client *next;
};

static struct {
    uv_loop_t *loop;
    cs_broker *broker;
    uv_pipe_t server;
    uv_signal_t sigchld, sigterm, sigint;
    uv_timer_t shutdown_timer;
    char socket_path[4096];
    const char *store;
    const char *policy_path;
    bool policy_missing_ok;
    cs_policy policy;
    cs_policy_log *policy_log;
    uv_fs_event_t *policy_watch[3];
    int npolicy_watch;
    char policy_file_name[256]; /* for a single policy file: its name in the watched folder */
    uv_timer_t policy_timer;
    const char *trust_path;
    const char **trusted_keys;
    size_t ntrusted_keys;
    app_instance *apps;
    client *clients;
    bool shutting_down;
} d;

static void daemon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void daemon_log(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s cashstoryd: %s\n", stamp, line);
}

/* The update agent; NULL once the daemon shuts down. */
static cs_update_agent *update_agent;

static void update_log(void *ctx, const char *line)
{
    (void)ctx;
    daemon_log("%s", line);
}

static void policy_log_line(void *ctx, const char *line)
{
    (void)ctx;
    daemon_log("%s", line);
}

static void broker_log(void *ctx, const char *line)
{
    (void)ctx;
    daemon_log("bus: %s", line);
}

/* ---- clients ----------------------------------------------------------- */

static void on_client_closed(uv_handle_t *h)
{
    client *c = h->data;
    free(c->buf);
    free(c);
}

static void client_close(client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    for (client **p = &d.clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    c->following = NULL;
    uv_close((uv_handle_t *)&c->pipe, on_client_closed);
}

typedef struct reply_write {
    uv_write_t req;
    char *text;
} reply_write;

static void on_reply_written(uv_write_t *req, int status)
{
    (void)status;
    reply_write *w = (reply_write *)req;
    free(w->text);
    free(w);
}

/* Send one JSON line (consumes value). */
static void client_send(client *c, json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (!text || c->closing) {
        free(text);
        return;
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    reply_write *w = calloc(1, sizeof(*w));
    if (!w) {
        free(line);
        return;
    }
    w->text = line;
    uv_buf_t buf = uv_buf_init(line, (unsigned)(n + 1));
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_reply_written) < 0) {
        free(line);
        free(w);
        client_close(c);
    }
}

static void client_error(client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void client_error(client *c, const char *fmt, ...)
{
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    client_send(c, json_pack("{s:b, s:s}", "ok", 0, "error", message));
}

/* ---- app logs ---------------------------------------------------------- */

static void app_log_line(app_instance *a, const char *stream, const char *text)
{
    char *line = NULL;
    if (asprintf(&line, "%s %s", stream, text) < 0)
        return;
    if (a->log_count == LOG_LINES) {
        free(a->log[a->log_first]);
        a->log[a->log_first] = line;
        a->log_first = (a->log_first + 1) % LOG_LINES;
    } else {
        a->log[(a->log_first + a->log_count) % LOG_LINES] = line;
        a->log_count++;
    }
    for (client *c = d.clients; c; c = c->next)
        if (c->following == a)
            client_send(c, json_pack("{s:s, s:s, s:s}", "instance", a->instance_id, "stream",
                                     stream, "line", text));
}

static void on_output_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char storage[16384];
    *buf = uv_buf_init(storage, sizeof(storage));
}

static void on_output_closed(uv_handle_t *h)
{
    output *o = h->data;
    o->closing = false;
}

static void output_close(output *o)
{
    if (!o->open)
        return;
    o->open = false;
    o->closing = true;
    if (o->used) {
        o->partial[o->used] = '\0';
        app_log_line(o->app, o->stream, o->partial);
        o->used = 0;
    }
    uv_close((uv_handle_t *)&o->pipe, on_output_closed);
}

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    output *o = s->data;
    if (n < 0) {
        output_close(o);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char ch = buf->base[i];
        if (ch == '\n' || o->used == LINE_MAX_BYTES - 1) {
            o->partial[o->used] = '\0';
            app_log_line(o->app, o->stream, o->partial);
            o->used = 0;
            if (ch == '\n')
                continue;
        }
        o->partial[o->used++] = ch;
    }
}

static int output_open(app_instance *a, output *o, const char *stream, int fd)
{
    o->app = a;
    o->stream = stream;
    o->used = 0;
    if (uv_pipe_init(d.loop, &o->pipe, 0) < 0)
        return -ENOMEM;
    o->pipe.data = o;
    o->open = true;
    if (uv_pipe_open(&o->pipe, fd) < 0 ||
        uv_read_start((uv_stream_t *)&o->pipe, on_output_alloc, on_output) < 0) {
        output_close(o);
        return -EIO;
    }
    return 0;
}

/* ---- apps -------------------------------------------------------------- */

/* Resident memory of pid's descendants, and of pid itself unless depth is 0:
 * the sandbox's init is a copy of the daemon and its pages are not the app's. */
static uint64_t rss_of_tree(pid_t pid, int depth)
{
    if (depth > 8)
        return 0;
    char path[64], text[4096];
    uint64_t total = 0;
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = depth > 0 ? fopen(path, "r") : NULL;
    unsigned long long size, resident;
    if (f && fscanf(f, "%llu %llu", &size, &resident) == 2)
        total += resident * (uint64_t)sysconf(_SC_PAGESIZE);
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    f = fopen(path, "r");
    if (f && fgets(text, sizeof(text), f)) {
        for (char *tok = strtok(text, " \n"); tok; tok = strtok(NULL, " \n"))
            total += rss_of_tree((pid_t)atoi(tok), depth + 1);
    }
    if (f)
        fclose(f);
    return total;
}

/* The trust of the trust file, the --trusted-key options and the policy. */
static int load_trust(cs_trust *trust, cs_error *err)
{
    cs_trust_init(trust);
    int rc = d.trust_path ? cs_trust_load_file(trust, d.trust_path, false, err)
                          : cs_trust_load_file(trust, CS_TRUST_DEFAULT_PATH, true, err);
    for (size_t i = 0; rc == 0 && i < d.ntrusted_keys; i++)
        rc = cs_trust_add_key_file(trust, d.trusted_keys[i], err);
    if (rc == 0)
        rc = cs_policy_add_trust(&d.policy, trust, err);
    if (rc < 0)
        cs_trust_free(trust);
    return rc;
}

static void new_instance_id(char out[33])
{
    uint8_t raw[16];
    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
        memset(raw, 0, sizeof(raw));
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
}

/* Launch a (new or restarted) instance: verify, sandbox, bus, logs. */
static int launch_instance(app_instance *a, cs_error *err)
{
    cs_trust trust;
    int rc = load_trust(&trust, err);
    if (rc < 0)
        return rc;
    new_instance_id(a->instance_id);
    char problems_text[4096] = "";
    FILE *problems = fmemopen(problems_text, sizeof(problems_text) - 1, "w");
    cs_launch_request request = {
        .target = a->app_id,
        .store = d.store,
        .trust = &trust,
        .policy = &d.policy,
        .policy_log = d.policy_log,
        .home = getenv("HOME"),
        .app_args = a->args,
        .napp_args = a->nargs,
        .bus = true,
        .instance_id = a->instance_id,
        .log = problems,
    };
    rc = cs_launch_prepare(&request, &a->launch, err);
    if (problems)
        fclose(problems);
    cs_trust_free(&trust);
    if (rc < 0) {
        /* The verification problems go to the log, and the first of them to
         * the error the client receives. */
        char *first = strtok(problems_text, "\n");
        for (char *line = first; line; line = strtok(NULL, "\n"))
            daemon_log("%s: %s", a->app_id, line);
        if (first)
            cs_error_prefix(err, "%s", first);
        cs_launch_free(&a->launch);
        return rc;
    }
    a->launched = true;
    snprintf(a->version, sizeof(a->version), "%s", a->launch.manifest.version);

    int bus[2], out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bus) < 0)
        return cs_error_errno(err, errno, "cannot create the bus socket");
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = cs_error_errno(err, errno, "cannot create the output pipes");
        goto fail;
    }
    a->launch.config.bus_fd = bus[1];
    a->launch.config.stdout_fd = out[1];
    a->launch.config.stderr_fd = errp[1];
    rc = cs_sandbox_spawn(&a->launch.config, &a->sandbox, err);
    close(bus[1]);
    close(out[1]);
    close(errp[1]);
    bus[1] = out[1] = errp[1] = -1;
    if (rc < 0)
        goto fail;

    cs_bus_grants grants = {
        .publish = (const char *const *)a->launch.perms.publish,
        .npublish = a->launch.perms.npublish,
        .subscribe = (const char *const *)a->launch.perms.subscribe,
        .nsubscribe = a->launch.perms.nsubscribe,
    };
    rc = cs_broker_attach(d.broker, bus[0], a->launch.identity_json, &grants, NULL, err);
    bus[0] = -1;
    if (rc < 0) {
        kill(a->sandbox.pid, SIGKILL);
        return rc;
    }
    output_open(a, &a->out, "stdout", out[0]);
    output_open(a, &a->err, "stderr", errp[0]);
    a->running = true;
    a->stopping = false;
    a->started = time(NULL);
    daemon_log("started %s %s as instance %s (sandbox pid %d)", a->app_id, a->version,
               a->instance_id, (int)a->sandbox.pid);
    /* A restart keeps the earlier lines; mark where the new instance begins. */
    if (a->log_count > 0) {
        char mark[160];
        snprintf(mark, sizeof(mark), "-- cashstoryd: instance %s of %s %s started --",
                 a->instance_id, a->app_id, a->version);
        app_log_line(a, "stdout", mark);
    }
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (bus[i] >= 0)
            close(bus[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    cs_launch_free(&a->launch);
    a->launched = false;
    return rc;
}

static void on_restart_timer(uv_timer_t *t)
{
    app_instance *a = t->data;
    if (d.shutting_down || a->running)
        return;
    /* The old instance's output pipes close when their last bytes are
     * read, which can come after its exit; the new instance reuses them. */
    if (a->out.open || a->err.open || a->out.closing || a->err.closing) {
        uv_timer_start(&a->restart_timer, on_restart_timer, 20, 0);
        return;
    }
    cs_error err = {0};
    if (launch_instance(a, &err) < 0)
        daemon_log("cannot restart %s: %s", a->app_id, err.message);
}

static void maybe_shutdown_done(void);

static void instance_exited(app_instance *a, int wait_status)
{
    a->running = false;
    a->status = cs_sandbox_status(wait_status);
    uv_timer_stop(&a->kill_timer);
    cs_broker_detach_instance(d.broker, a->instance_id);
    cs_sandbox_release(&a->sandbox);
    if (WIFSIGNALED(wait_status))
        daemon_log("%s (instance %s) was ended by signal %d (%s)", a->app_id, a->instance_id,
                   WTERMSIG(wait_status), strsignal(WTERMSIG(wait_status)));
    else
        daemon_log("%s (instance %s) exited with status %d", a->app_id, a->instance_id, a->status);
    cs_update_agent_app_exited(update_agent, a->app_id, a->version, a->started,
                               a->status != 0 && !a->stopping);
    if (a->launched) {
        cs_launch_free(&a->launch);
        a->launched = false;
    }
    bool policy_restart = a->policy_restart && !d.shutting_down;
    a->policy_restart = false;
    bool restarting =
        policy_restart || (a->restart_on_failure && !a->stopping && !d.shutting_down &&
                           a->status != 0 && a->restarts < MAX_RESTARTS);
    /* Clients that follow the logs end with the app, unless it restarts. */
    for (client *c = d.clients; !restarting && c; c = c->next) {
        if (c->following != a)
            continue;
        c->following = NULL;
        client_send(c, json_pack("{s:b, s:b, s:i}", "ok", 1, "end", 1, "status", a->status));
    }
    if (policy_restart) {
        a->stopping = false;
        daemon_log("starting %s again under the new policy", a->app_id);
        uv_timer_start(&a->restart_timer, on_restart_timer, 0, 0);
    } else if (restarting) {
        uint64_t delay = 1000ULL << a->restarts;
        a->restarts++;
        daemon_log("restarting %s in %llu ms (attempt %d of %d)", a->app_id,
                   (unsigned long long)delay, a->restarts, MAX_RESTARTS);
        uv_timer_start(&a->restart_timer, on_restart_timer, delay, 0);
    }
    maybe_shutdown_done();
}

static void on_sigchld(uv_signal_t *s, int sig)
{
    (void)s;
    (void)sig;
    int ws;
    pid_t pid;
    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        for (app_instance *a = d.apps; a; a = a->next)
            if (a->running && a->sandbox.pid == pid) {
                instance_exited(a, ws);
                break;
            }
    }
}

static void on_kill_timer(uv_timer_t *t)
{
    app_instance *a = t->data;
    if (a->running) {
        daemon_log("%s (instance %s) did not stop within %d ms; sending SIGKILL", a->app_id,
                   a->instance_id, STOP_TIMEOUT_MS);
        kill(a->sandbox.pid, SIGKILL);
    }
}

static void stop_instance(app_instance *a)
{
    if (!a->running || a->stopping)
        return;
    a->stopping = true;
    /* The sandbox's init forwards SIGTERM to the app host. */
    kill(a->sandbox.pid, SIGTERM);
    uv_timer_start(&a->kill_timer, on_kill_timer, STOP_TIMEOUT_MS, 0);
}

static app_instance *new_app(const char *app_id, json_t *args, bool restart)
{
    app_instance *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    snprintf(a->app_id, sizeof(a->app_id), "%s", app_id);
    a->restart_on_failure = restart;
    a->nargs = json_array_size(args);
    a->args = calloc(a->nargs + 1, sizeof(char *));
    for (size_t i = 0; a->args && i < a->nargs; i++)
        a->args[i] = strdup(json_string_value(json_array_get(args, i)));
    uv_timer_init(d.loop, &a->kill_timer);
    uv_timer_init(d.loop, &a->restart_timer);
    a->kill_timer.data = a;
    a->restart_timer.data = a;
    a->next = d.apps;
    d.apps = a;
    return a;
}

/* ---- policy ------------------------------------------------------------ */

static app_instance *find_instance(const char *instance_id)
{
    for (app_instance *a = d.apps; a; a = a->next)
        if (a->running && a->launched && strcmp(a->instance_id, instance_id) == 0)
            return a;
    return NULL;
}

/* The broker denied an action: explain it with the policy and log it once. */
static void on_bus_denied(void *ctx, const char *app_id, const char *instance_id,
                          const char *action, const char *topic)
{
    (void)ctx;
    app_instance *a = find_instance(instance_id);
    bool publish = strcmp(action, "subscribe") != 0;
    cs_policy_decision decision;
    char permission[32];
    snprintf(permission, sizeof(permission), "bus.%s", publish ? "publish" : "subscribe");
    if (!a) {
        memset(&decision, 0, sizeof(decision));
        snprintf(decision.target, sizeof(decision.target), "bus %s '%s'", action, topic);
        snprintf(decision.reason, sizeof(decision.reason), "denied bus %s '%s' for %s: not granted",
                 action, topic, app_id);
    } else {
        cs_policy_subject subj;
        cs_launch_subject(&a->launch, getenv("HOME"), &subj);
        cs_policy_bus(&d.policy, &subj, publish ? "publish" : "subscribe", topic, &decision);
        if (decision.granted) {
            /* Policy would allow it; the manifest did not ask for it. */
            decision.granted = false;
            decision.file[0] = '\0';
            snprintf(decision.rule, sizeof(decision.rule), "manifest permissions.bus.%s",
                     publish ? "publish" : "subscribe");
            snprintf(decision.reason, sizeof(decision.reason),
                     "denied bus %s '%s' for %s: the app's manifest does not request it in "
                     "permissions.bus.%s",
                     action, topic, app_id, publish ? "publish" : "subscribe");
        }
    }
    cs_policy_record(d.policy_log, app_id, permission, &decision);
}

static void start_policy_watch(void);

/* Load the policy again and apply it to every running app. Bus grants
 * change at once, an app whose sandbox must change restarts (or is logged
 * when policy keeps it), and an app that may no longer run stops. Returns
 * a summary. */
static json_t *reload_policy(const char *why)
{
    cs_policy fresh;
    cs_error err = {0};
    const char *location = d.policy_path ? d.policy_path : CS_POLICY_DEFAULT_DIR;
    if (cs_policy_load(&fresh, location, d.policy_missing_ok, &err) < 0) {
        daemon_log("policy reload (%s) failed, the previous policy stays in force: %s", why,
                   err.message);
        return json_pack("{s:b, s:s}", "ok", 0, "error", err.message);
    }
    cs_policy_free(&d.policy);
    d.policy = fresh;
    cs_policy_log_configure(d.policy_log, &d.policy);
    daemon_log("policy reloaded (%s): %zu file%s from %s", why, d.policy.nfiles,
               d.policy.nfiles == 1 ? "" : "s", d.policy.location ? d.policy.location : location);
    for (size_t i = 0; i < d.policy.nproblems; i++) {
        const cs_policy_problem *pr = &d.policy.problems[i];
        if (strncmp(pr->message, pr->file, strlen(pr->file)) == 0)
            daemon_log("policy: %s", pr->message);
        else
            daemon_log("policy: %s: %s", pr->file, pr->message);
    }

    json_t *changes = json_array();
    for (app_instance *a = d.apps; a; a = a->next) {
        if (!a->running || !a->launched || a->stopping)
            continue;
        cs_launch_perms perms;
        if (cs_launch_evaluate(&a->launch, &d.policy, getenv("HOME"), d.policy_log, NULL, &perms,
                               &err) < 0) {
            daemon_log("%s: cannot evaluate the new policy (%s); stopping it", a->app_id,
                       err.message);
            cs_launch_perms_free(&perms);
            stop_instance(a);
            continue;
        }
        const char *action = "unchanged";
        if (!perms.run.granted) {
            action = "stopped";
            daemon_log("stopping %s (instance %s): %s", a->app_id, a->instance_id,
                       perms.run.reason);
            a->restart_on_failure = false;
            stop_instance(a);
        } else if (!cs_launch_perms_same_sandbox(&a->launch.perms, &perms)) {
            if (perms.restart_on_change) {
                action = "restarting";
                daemon_log("restarting %s (instance %s): its file-system grants or limits changed",
                           a->app_id, a->instance_id);
                a->policy_restart = true;
                stop_instance(a);
            } else {
                action = "kept until it restarts";
                daemon_log("%s (instance %s): its file-system grants or limits changed; it keeps "
                           "its sandbox until it restarts (restart_on_policy_change is false)",
                           a->app_id, a->instance_id);
            }
        }
        if (perms.run.granted && !cs_launch_perms_same_bus(&a->launch.perms, &perms)) {
            cs_bus_grants grants = {
                .publish = (const char *const *)perms.publish,
                .npublish = perms.npublish,
                .subscribe = (const char *const *)perms.subscribe,
                .nsubscribe = perms.nsubscribe,
            };
            size_t revoked = 0;
            if (cs_broker_update_grants(d.broker, a->instance_id, &grants, &revoked) == 0) {
                daemon_log("%s (instance %s): bus grants updated (%zu publish, %zu subscribe; "
                           "%zu subscription%s ended)",
                           a->app_id, a->instance_id, perms.npublish, perms.nsubscribe, revoked,
                           revoked == 1 ? "" : "s");
                if (strcmp(action, "unchanged") == 0)
                    action = "bus grants updated";
                /* Keep the new bus grants; the sandbox part stays as started. */
                char **p = a->launch.perms.publish, **q = a->launch.perms.subscribe;
                size_t np = a->launch.perms.npublish, nq = a->launch.perms.nsubscribe;
                a->launch.perms.publish = perms.publish;
                a->launch.perms.npublish = perms.npublish;
                a->launch.perms.subscribe = perms.subscribe;
                a->launch.perms.nsubscribe = perms.nsubscribe;
                perms.publish = p;
                perms.npublish = np;
                perms.subscribe = q;
                perms.nsubscribe = nq;
            }
        }
        json_array_append_new(changes, json_pack("{s:s, s:s, s:s}", "app", a->app_id, "instance",
                                                 a->instance_id, "action", action));
        cs_launch_perms_free(&perms);
    }
    start_policy_watch();
    json_t *problems = json_array();
    for (size_t i = 0; i < d.policy.nproblems; i++)
        json_array_append_new(problems, json_pack("{s:s, s:s}", "file", d.policy.problems[i].file,
                                                  "message", d.policy.problems[i].message));
    return json_pack("{s:b, s:s?, s:i, s:o, s:o}", "ok", 1, "location", d.policy.location, "files",
                     (int)d.policy.nfiles, "problems", problems, "apps", changes);
}

static void on_policy_timer(uv_timer_t *t)
{
    (void)t;
    json_decref(reload_policy("the policy folder changed"));
}

static void on_policy_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    (void)h;
    (void)events;
    (void)status;
    if (d.shutting_down)
        return;
    /* Only policy files and the two level folders matter. */
    if (name) {
        size_t n = strlen(name);
        bool relevant = d.policy_file_name[0]
                            ? strcmp(name, d.policy_file_name) == 0
                            : (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
                                  strcmp(name, "managed") == 0 || strcmp(name, "recommended") == 0;
        if (!relevant)
            return;
    }
    /* Editors write in several steps; reload once things settle. */
    uv_timer_start(&d.policy_timer, on_policy_timer, 300, 0);
}

static void on_watch_closed(uv_handle_t *h)
{
    free(h);
}

/* Watch the policy location and its managed/ and recommended/ folders (a
 * single file is watched through its folder, as editors replace files). */
static void start_policy_watch(void)
{
    for (int i = 0; i < d.npolicy_watch; i++)
        uv_close((uv_handle_t *)d.policy_watch[i], on_watch_closed);
    d.npolicy_watch = 0;
    d.policy_file_name[0] = '\0';
    if (d.shutting_down)
        return;
    const char *location = d.policy_path ? d.policy_path : CS_POLICY_DEFAULT_DIR;
    struct stat sb;
    char paths[3][4096];
    int n = 0;
    if (stat(location, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(paths[n++], sizeof(paths[0]), "%s", location);
        snprintf(paths[n++], sizeof(paths[0]), "%s/managed", location);
        snprintf(paths[n++], sizeof(paths[0]), "%s/recommended", location);
    } else {
        cs_autofree char *dir = cs_dirname(location);
        const char *slash = strrchr(location, '/');
        snprintf(d.policy_file_name, sizeof(d.policy_file_name), "%s",
                 slash ? slash + 1 : location);
        if (dir)
            snprintf(paths[n++], sizeof(paths[0]), "%s", dir);
    }
    for (int i = 0; i < n; i++) {
        if (stat(paths[i], &sb) < 0 || !S_ISDIR(sb.st_mode))
            continue;
        uv_fs_event_t *w = calloc(1, sizeof(*w));
        if (!w || uv_fs_event_init(d.loop, w) < 0) {
            free(w);
            continue;
        }
        if (uv_fs_event_start(w, on_policy_event, paths[i], 0) == 0)
            d.policy_watch[d.npolicy_watch++] = w;
        else
            uv_close((uv_handle_t *)w, on_watch_closed);
    }
}

/* ---- requests ---------------------------------------------------------- */

static void handle_start(client *c, json_t *req)
{
    const char *app_id = json_string_value(json_object_get(req, "app"));
    json_t *args = json_object_get(req, "args");
    const char *restart = json_string_value(json_object_get(req, "restart"));
    if (!app_id || cs_app_id_check(app_id, NULL) < 0) {
        client_error(c, "'app' must be the id of an installed app");
        return;
    }
    if (args && !json_is_array(args)) {
        client_error(c, "'args' must be an array of strings");
        return;
    }
    size_t i;
    json_t *arg;
    json_array_foreach(args, i, arg)
    {
        if (!json_is_string(arg)) {
            client_error(c, "args[%zu] is not a string", i);
            return;
        }
    }
    if (restart && strcmp(restart, "never") != 0 && strcmp(restart, "on-failure") != 0) {
        client_error(c, "restart policy '%s' must be 'never' or 'on-failure'", restart);
        return;
    }
    if (d.shutting_down) {
        client_error(c, "the daemon is stopping");
        return;
    }
    app_instance *a = new_app(app_id, args, restart && strcmp(restart, "on-failure") == 0);
    if (!a || !a->args) {
        client_error(c, "out of memory");
        return;
    }
    cs_error err = {0};
    if (launch_instance(a, &err) < 0) {
        daemon_log("cannot start %s: %s", app_id, err.message);
        a->status = -1;
        client_error(c, "%s", err.message);
        return;
    }
    client_send(c, json_pack("{s:b, s:s, s:s, s:s, s:i}", "ok", 1, "app", a->app_id, "instance",
                             a->instance_id, "version", a->version, "pid", (int)a->sandbox.pid));
}

static void handle_ps(client *c)
{
    json_t *list = json_array();
    time_t now = time(NULL);
    for (app_instance *a = d.apps; a; a = a->next) {
        if (!a->running && a->status == -1)
            continue;
        const char *state = "exited";
        if (a->running)
            state = a->stopping ? "stopping" : "running";
        json_t *item =
            json_pack("{s:s, s:s, s:s, s:s, s:i}", "app", a->app_id, "instance", a->instance_id,
                      "version", a->version, "state", state, "restarts", a->restarts);
        if (a->running) {
            json_object_set_new(item, "pid", json_integer(a->sandbox.pid));
            json_object_set_new(item, "uptime_seconds",
                                json_integer((json_int_t)(now - a->started)));
            json_object_set_new(item, "memory_bytes",
                                json_integer((json_int_t)rss_of_tree(a->sandbox.pid, 0)));
        } else {
            json_object_set_new(item, "exit_status", json_integer(a->status));
        }
        json_array_append_new(list, item);
    }
    client_send(c, json_pack("{s:b, s:o}", "ok", 1, "apps", list));
}

/* True when id names instance a: its app id or its instance id. */
static bool instance_matches(const app_instance *a, const char *id)
{
    return strcmp(a->app_id, id) == 0 || strcmp(a->instance_id, id) == 0;
}

/* Stop every running instance that id names, so an app id stops them all.
 * The reply lists their ids at once, and the client waits for them to end. */
static void handle_stop(client *c, json_t *req)
{
    const char *id = json_string_value(json_object_get(req, "app"));
    if (!id) {
        client_error(c, "'app' is missing: give an app id or an instance id");
        return;
    }
    json_t *stopping = json_array();
    for (app_instance *a = d.apps; a; a = a->next) {
        if (!instance_matches(a, id))
            continue;
        uv_timer_stop(&a->restart_timer);
        a->restart_on_failure = false;
        if (!a->running)
            continue;
        stop_instance(a);
        json_array_append_new(
            stopping, json_pack("{s:s, s:s}", "app", a->app_id, "instance", a->instance_id));
    }
    if (json_array_size(stopping) == 0) {
        json_decref(stopping);
        client_error(c, "no running app or instance '%s'", id);
        return;
    }
    client_send(c, json_pack("{s:b, s:o}", "ok", 1, "stopping", stopping));
}

static void handle_logs(client *c, json_t *req)
{
    const char *app_id = json_string_value(json_object_get(req, "app"));
    bool follow = json_is_true(json_object_get(req, "follow"));
    /* The newest running instance, else the newest one. */
    app_instance *a = NULL;
    for (app_instance *x = d.apps; app_id && x; x = x->next) {
        if (!instance_matches(x, app_id))
            continue;
        if (!a || (x->running && !a->running))
            a = x;
    }
    if (!a) {
        client_error(c, "no app or instance '%s' was started by this daemon", app_id ? app_id : "");
        return;
    }
    client_send(c, json_pack("{s:s, s:s, s:s}", "app", a->app_id, "instance", a->instance_id,
                             "state", a->running ? "running" : "exited"));
    for (size_t i = 0; i < a->log_count; i++) {
        const char *line = a->log[(a->log_first + i) % LOG_LINES];
        const char *space = strchr(line, ' ');
        char stream[8];
        snprintf(stream, sizeof(stream), "%.*s", (int)(space - line), line);
        client_send(c, json_pack("{s:s, s:s, s:s}", "instance", a->instance_id, "stream", stream,
                                 "line", space + 1));
    }
    if (follow && (a->running || a->restart_on_failure)) {
        c->following = a;
        return;
    }
    client_send(c, json_pack("{s:b, s:b}", "ok", 1, "end", 1));
}

static void handle_request(client *c, const char *line)
{
    json_error_t jerr;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    const char *command = json_string_value(json_object_get(req, "command"));
    if (!req || !json_is_object(req) || !command)
        client_error(c, "invalid request: a JSON object with a 'command' is expected");
    else if (strcmp(command, "start") == 0)
        handle_start(c, req);
    else if (strcmp(command, "ps") == 0)
        handle_ps(c);
    else if (strcmp(command, "stop") == 0)
        handle_stop(c, req);
    else if (strcmp(command, "logs") == 0)
        handle_logs(c, req);
    else if (strcmp(command, "policy-reload") == 0)
        client_send(c, reload_policy("requested"));
    else
        client_error(c, "unknown command '%s'", command);
    json_decref(req);
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char storage[16384];
    *buf = uv_buf_init(storage, sizeof(storage));
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    client *c = s->data;
    if (n < 0) {
        client_close(c);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf->base[i] == '\n') {
            c->buf[c->used] = '\0';
            handle_request(c, c->buf);
            c->used = 0;
            if (c->closing)
                return;
            continue;
        }
        if (c->used == CS_CONTROL_REQUEST_MAX) {
            daemon_log("closed a control connection: request longer than %d bytes",
                       CS_CONTROL_REQUEST_MAX);
            client_close(c);
            return;
        }
        c->buf[c->used++] = buf->base[i];
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    client *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->buf = malloc(CS_CONTROL_REQUEST_MAX + 1);
    uv_pipe_init(d.loop, &c->pipe, 0);
    c->pipe.data = c;
    if (!c->buf || uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->pipe, on_client_closed);
        return;
    }
    /* Only this daemon's own user and root may control it. */
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        (cred.uid != geteuid() && cred.uid != 0)) {
        daemon_log("rejected a control connection from uid %d, pid %d", (int)cred.uid,
                   (int)cred.pid);
        c->closing = true;
        uv_close((uv_handle_t *)&c->pipe, on_client_closed);
        return;
    }
    c->next = d.clients;
    d.clients = c;
    uv_read_start((uv_stream_t *)&c->pipe, on_client_alloc, on_client_read);
}

/* ---- start and stop ---------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void maybe_shutdown_done(void)
{
    if (!d.shutting_down)
        return;
    for (app_instance *a = d.apps; a; a = a->next)
        if (a->running)
            return;
    daemon_log("all apps stopped; exiting");
    unlink(d.socket_path);
    while (d.clients)
        client_close(d.clients);
    cs_broker_free(d.broker);
    d.broker = NULL;
    uv_close((uv_handle_t *)&d.server, on_handle_closed);
    uv_close((uv_handle_t *)&d.sigchld, on_handle_closed);
    uv_close((uv_handle_t *)&d.sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&d.sigint, on_handle_closed);
    uv_close((uv_handle_t *)&d.shutdown_timer, on_handle_closed);
    uv_close((uv_handle_t *)&d.policy_timer, on_handle_closed);
    for (int i = 0; i < d.npolicy_watch; i++)
        uv_close((uv_handle_t *)d.policy_watch[i], on_watch_closed);
    d.npolicy_watch = 0;
    for (app_instance *a = d.apps; a; a = a->next) {
        uv_close((uv_handle_t *)&a->kill_timer, on_handle_closed);
        uv_close((uv_handle_t *)&a->restart_timer, on_handle_closed);
        output_close(&a->out);
        output_close(&a->err);
    }
}

static void on_terminate(uv_signal_t *s, int sig)
{
    (void)s;
    if (d.shutting_down)
        return;
    daemon_log("received %s; stopping every app", strsignal(sig));
    d.shutting_down = true;
    cs_update_agent_close(update_agent);
    update_agent = NULL;
    for (app_instance *a = d.apps; a; a = a->next) {
        uv_timer_stop(&a->restart_timer);
        stop_instance(a);
    }
    maybe_shutdown_done();
}

static int listen_control(cs_error *err)
{
    cs_autofree char *dir = cs_dirname(d.socket_path);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return cs_error_errno(err, errno, "cannot create %s", dir);
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & 077) != 0)
        chmod(dir, 0700);

    /* A socket that accepts a connection belongs to a running daemon; one that does not
     * is left over from a daemon that was killed. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(d.socket_path) >= sizeof(addr.sun_path)) {
        close(probe);
        return cs_error_set(err, ENAMETOOLONG, "socket path %s is too long", d.socket_path);
    }
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", d.socket_path);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        close(probe);
        return cs_error_set(err, EADDRINUSE, "another cashstoryd is running on %s", d.socket_path);
    }
    if (probe >= 0)
        close(probe);
    unlink(d.socket_path);

    uv_pipe_init(d.loop, &d.server, 0);
    mode_t old = umask(0177);
    int rc = uv_pipe_bind(&d.server, d.socket_path);
    umask(old);
    if (rc == 0)
        rc = chmod(d.socket_path, 0600) < 0 ? -errno : 0;
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&d.server, 16, on_connection);
    if (rc < 0)
        return cs_error_set(err, -rc, "cannot listen on %s: %s", d.socket_path, uv_strerror(rc));
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: cashstoryd [OPTIONS]\n\n"
            "Supervises sandboxed CashStory apps and brokers the messages between them. Runs in\n"
            "the foreground and logs to standard error. Stop it with SIGTERM or SIGINT: it\n"
            "stops every app (SIGTERM, then SIGKILL after %d ms) before it exits.\n\n"
            "Options:\n"
            "  --socket PATH       control socket (default: $CASHSTORY_SOCKET, else\n"
            "                      /run/cashstory/control.sock for root, else\n"
            "                      $XDG_RUNTIME_DIR/cashstory/control.sock)\n"
            "  --store DIR         store of installed apps (default: $CASHSTORY_STORE, else %s)\n"
            "  --trust FILE        trust configuration (default: $CASHSTORY_TRUST, else %s)\n"
            "  --trusted-key FILE  also trust this publisher key; repeatable\n"
            "  --policy PATH       policy folder or file (default: $CASHSTORY_POLICY, else\n"
            "                      %s); reloaded when it changes\n"
            "  --help, --version\n",
            STOP_TIMEOUT_MS, CS_STORE_DEFAULT, CS_TRUST_DEFAULT_PATH, CS_POLICY_DEFAULT_DIR);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'}, {"store", required_argument, NULL, 'd'},
        {"trust", required_argument, NULL, 't'},  {"trusted-key", required_argument, NULL, 'k'},
        {"policy", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},      {NULL, 0, NULL, 0},
    };
    const char *socket_path = NULL;
    d.store = getenv("CASHSTORY_STORE");
    d.trust_path = getenv("CASHSTORY_TRUST");
    d.policy_path = getenv("CASHSTORY_POLICY");
    d.trusted_keys = calloc((size_t)argc + 1, sizeof(char *));
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'd':
            d.store = optarg;
            break;
        case 't':
            d.trust_path = optarg;
            break;
        case 'k':
            d.trusted_keys[d.ntrusted_keys++] = optarg;
            break;
        case 'p':
            d.policy_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("cashstoryd %s\n", CS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cashstoryd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!d.store || !*d.store)
        d.store = CS_STORE_DEFAULT;
    if (d.trust_path && !*d.trust_path)
        d.trust_path = NULL;
    if (d.policy_path && !*d.policy_path)
        d.policy_path = NULL;
    d.policy_missing_ok = d.policy_path == NULL;
    if (socket_path)
        snprintf(d.socket_path, sizeof(d.socket_path), "%s", socket_path);
    else if (cs_control_default_path(d.socket_path, sizeof(d.socket_path)) < 0) {
        fprintf(stderr, "cashstoryd: XDG_RUNTIME_DIR is not set; pass --socket PATH\n");
        return 2;
    }

    /* Read the policy, and check the trust once at start, so mistakes show
     * now. Problems in policy files are logged; they fail closed. */
    cs_trust trust;
    cs_error err = {0};
    if (cs_policy_load(&d.policy, d.policy_path ? d.policy_path : CS_POLICY_DEFAULT_DIR,
                       d.policy_missing_ok, &err) < 0 ||
        load_trust(&trust, &err) < 0) {
        fprintf(stderr, "cashstoryd: %s\n", err.message);
        return 1;
    }
    cs_trust_free(&trust);
    cs_policy_print_problems(&d.policy, stderr, "cashstoryd: ");
    d.policy_log = cs_policy_log_new(stderr);
    cs_policy_log_set_sink(d.policy_log, policy_log_line, NULL);
    cs_policy_log_configure(d.policy_log, &d.policy);

    int stale = cs_sandbox_limits_remove_stale();
    if (stale > 0)
        daemon_log("removed %d empty cgroups left by an earlier daemon", stale);

    signal(SIGPIPE, SIG_IGN);
    d.loop = uv_default_loop();
    d.broker = cs_broker_new(d.loop, broker_log, NULL);
    cs_broker_set_deny_hook(d.broker, on_bus_denied, NULL);
    uv_timer_init(d.loop, &d.policy_timer);
    start_policy_watch();
    if (listen_control(&err) < 0) {
        fprintf(stderr, "cashstoryd: %s\n", err.message);
        return 1;
    }
    uv_signal_init(d.loop, &d.sigchld);
    uv_signal_start(&d.sigchld, on_sigchld, SIGCHLD);
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_start(&d.sigterm, on_terminate, SIGTERM);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_start(&d.sigint, on_terminate, SIGINT);
    uv_timer_init(d.loop, &d.shutdown_timer);
    daemon_log("listening on %s (store %s)", d.socket_path, d.store);
    cs_update_agent_config agent_config = {
        .loop = d.loop,
        .store = d.store,
        .policy_location = d.policy_path,
        .trust_path = d.trust_path,
        .trusted_keys = d.trusted_keys,
        .ntrusted_keys = d.ntrusted_keys,
        .first_delay = 30,
        .log = update_log,
    };
    if (cs_update_agent_start(&agent_config, &update_agent, &err) < 0)
        daemon_log("update agent not started: %s", err.message);

    uv_run(d.loop, UV_RUN_DEFAULT);
    for (app_instance *a = d.apps; a;) {
        app_instance *next = a->next;
        for (size_t i = 0; i < a->log_count; i++)
            free(a->log[(a->log_first + i) % LOG_LINES]);
        for (size_t i = 0; i < a->nargs; i++)
            free(a->args[i]);
        free(a->args);
        free(a);
        a = next;
    }
    free(d.trusted_keys);
    cs_policy_log_free(d.policy_log);
    cs_policy_free(&d.policy);
    uv_loop_close(d.loop);
    return 0;
}
