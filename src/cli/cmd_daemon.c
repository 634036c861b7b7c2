/* Commands that talk to cashstoryd over its control socket. */
#include "cli/cli.h"
#include "cli/output.h"

#include "daemon/control.h"

#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int connect_daemon(const cli *c, cs_error *err)
{
    char path[4096];
    if (c->socket)
        snprintf(path, sizeof(path), "%s", c->socket);
    else if (cs_control_default_path(path, sizeof(path)) < 0)
        return cs_error_set(err, ENOENT,
                            "XDG_RUNTIME_DIR is not set; pass --socket PATH or set "
                            "CASHSTORY_SOCKET");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return cs_error_set(err, ENAMETOOLONG, "socket path %s is too long", path);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot create a socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        return cs_error_set(err, e,
                            "cannot reach cashstoryd at %s: %s; start it with 'cashstoryd' (or "
                            "pass --socket)",
                            path, strerror(e));
    }
    return fd;
}

/* Send request and return a stream for the reply lines. */
static FILE *request(const cli *c, json_t *req, cs_error *err)
{
    int fd = connect_daemon(c, err);
    if (fd < 0) {
        json_decref(req);
        return NULL;
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    size_t n = text ? strlen(text) : 0;
    bool ok = text && write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    free(text);
    if (!ok) {
        close(fd);
        cs_error_errno(err, errno, "cannot send the request to cashstoryd");
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f)
        close(fd);
    return f;
}

static json_t *read_reply(FILE *f, cs_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n <= 0) {
        free(line);
        cs_error_set(err, ECONNRESET, "cashstoryd closed the connection without a reply");
        return NULL;
    }
    json_error_t jerr;
    json_t *reply = json_loads(line, 0, &jerr);
    free(line);
    if (!json_is_object(reply)) {
        json_decref(reply);
        cs_error_set(err, EPROTO, "cashstoryd sent a reply that is not a JSON object");
        return NULL;
    }
    return reply;
}

/* One request, one reply; fails when the reply is not ok. */
static json_t *call(cli *c, json_t *req, int *status)
{
    cs_error err = {0};
    FILE *f = request(c, req, &err);
    json_t *reply = f ? read_reply(f, &err) : NULL;
    if (f)
        fclose(f);
    if (!reply) {
        *status = cli_fail(c, -err.code, &err);
        return NULL;
    }
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *message = json_string_value(json_object_get(reply, "error"));
        cs_error_set(&err, EINVAL, "%s", message ? message : "the daemon reported a failure");
        *status = cli_fail(c, -EINVAL, &err);
        json_decref(reply);
        return NULL;
    }
    return reply;
}

static int run_start(cli *c)
{
    json_t *args = json_array();
    for (int i = 1; i < c->argc; i++)
        json_array_append_new(args, json_string(c->argv[i]));
    if (c->restart && strcmp(c->restart, "never") != 0 && strcmp(c->restart, "on-failure") != 0) {
        json_decref(args);
        fprintf(stderr, "cashstory start: --restart must be 'never' or 'on-failure'\n");
        return CS_EXIT_USAGE;
    }
    int status = CS_EXIT_OK;
    json_t *reply = call(c,
                         json_pack("{s:s, s:s, s:o, s:s}", "command", "start", "app", c->argv[0],
                                   "args", args, "restart", c->restart ? c->restart : "never"),
                         &status);
    if (!reply)
        return status;
    if (c->json)
        cli_print_json(reply);
    else
        printf("started %s %s (instance %s, pid %lld)\n",
               json_string_value(json_object_get(reply, "app")),
               json_string_value(json_object_get(reply, "version")),
               json_string_value(json_object_get(reply, "instance")),
               (long long)json_integer_value(json_object_get(reply, "pid")));
    json_decref(reply);
    return CS_EXIT_OK;
}

static int run_ps(cli *c)
{
    int status = CS_EXIT_OK;
    json_t *reply = call(c, json_pack("{s:s}", "command", "ps"), &status);
    if (!reply)
        return status;
    json_t *apps = json_object_get(reply, "apps");
    if (c->json) {
        cli_print_json(apps);
    } else {
        printf("%-28s %-10s %-9s %-8s %-8s %-10s %s\n", "APP", "VERSION", "STATE", "PID", "UPTIME",
               "MEMORY", "INSTANCE");
        size_t i;
        json_t *a;
        json_array_foreach(apps, i, a)
        {
            char pid[16] = "-", uptime[16] = "-", memory[16] = "-";
            if (json_object_get(a, "pid")) {
                snprintf(pid, sizeof(pid), "%lld",
                         (long long)json_integer_value(json_object_get(a, "pid")));
                snprintf(uptime, sizeof(uptime), "%llds",
                         (long long)json_integer_value(json_object_get(a, "uptime_seconds")));
                snprintf(memory, sizeof(memory), "%.1f MiB",
                         (double)json_integer_value(json_object_get(a, "memory_bytes")) /
                             1048576.0);
            } else {
                long long code = json_integer_value(json_object_get(a, "exit_status"));
                if (code > 128 && code < 128 + 65)
                    snprintf(uptime, sizeof(uptime), "signal %lld", code - 128);
                else
                    snprintf(uptime, sizeof(uptime), "exit %lld", code);
            }
            printf("%-28s %-10s %-9s %-8s %-8s %-10s %s\n",
                   json_string_value(json_object_get(a, "app")),
                   json_string_value(json_object_get(a, "version")),
                   json_string_value(json_object_get(a, "state")), pid, uptime, memory,
                   json_string_value(json_object_get(a, "instance")));
        }
    }
    json_decref(reply);
    return CS_EXIT_OK;
}

/* "exit status N", or "stopped by signal N (NAME)" for 128 + N. */
static void describe_status(long long status, char *out, size_t size)
{
    if (status > 128 && status < 128 + 65)
        snprintf(out, size, "ended by signal %lld (%s)", status - 128,
                 strsignal((int)(status - 128)));
    else
        snprintf(out, size, "exit status %lld", status);
}

static int run_stop(cli *c)
{
    int status = CS_EXIT_OK;
    json_t *reply = call(c, json_pack("{s:s, s:s}", "command", "stop", "app", c->argv[0]), &status);
    if (!reply)
        return status;
    json_t *stopping = json_object_get(reply, "stopping");

    /* Wait until the daemon reports every instance ended: it sends SIGTERM,
     * then SIGKILL after 5 s. */
    json_t *result = json_array();
    for (int attempt = 0; attempt < 150; attempt++) {
        json_t *ps = call(c, json_pack("{s:s}", "command", "ps"), &status);
        if (!ps)
            break;
        bool all_done = true;
        json_array_clear(result);
        size_t i, j;
        json_t *want, *a;
        json_array_foreach(stopping, i, want)
        {
            const char *instance = json_string_value(json_object_get(want, "instance"));
            json_array_foreach(json_object_get(ps, "apps"), j, a)
            {
                if (strcmp(json_string_value(json_object_get(a, "instance")), instance) != 0)
                    continue;
                if (json_object_get(a, "exit_status"))
                    json_array_append(result, a);
                else
                    all_done = false;
            }
        }
        json_decref(ps);
        if (all_done)
            break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    json_decref(reply);
    if (c->json) {
        cli_print_json(result);
    } else {
        size_t i;
        json_t *a;
        json_array_foreach(result, i, a)
        {
            char text[96];
            describe_status(json_integer_value(json_object_get(a, "exit_status")), text,
                            sizeof(text));
            printf("stopped %s instance %s (%s)\n", json_string_value(json_object_get(a, "app")),
                   json_string_value(json_object_get(a, "instance")), text);
        }
    }
    json_decref(result);
    return status;
}

static int run_logs(cli *c)
{
    cs_error err = {0};
    FILE *f = request(
        c, json_pack("{s:s, s:s, s:b}", "command", "logs", "app", c->argv[0], "follow", c->follow),
        &err);
    if (!f)
        return cli_fail(c, -err.code, &err);
    int status = CS_EXIT_OK;
    for (;;) {
        json_t *line = read_reply(f, &err);
        if (!line)
            break;
        if (json_object_get(line, "state")) {
            if (!c->json)
                fprintf(stderr, "== %s instance %s (%s)\n",
                        json_string_value(json_object_get(line, "app")),
                        json_string_value(json_object_get(line, "instance")),
                        json_string_value(json_object_get(line, "state")));
            json_decref(line);
            continue;
        }
        if (json_object_get(line, "ok")) {
            if (!json_is_true(json_object_get(line, "ok"))) {
                const char *message = json_string_value(json_object_get(line, "error"));
                cs_error_set(&err, EINVAL, "%s", message ? message : "failed");
                status = cli_fail(c, -EINVAL, &err);
            }
            json_decref(line);
            break;
        }
        if (c->json) {
            char *text = json_dumps(line, JSON_COMPACT);
            printf("%s\n", text ? text : "{}");
            free(text);
        } else {
            const char *stream = json_string_value(json_object_get(line, "stream"));
            FILE *out = stream && strcmp(stream, "stderr") == 0 ? stderr : stdout;
            fprintf(out, "%s\n", cli_safe(json_string_value(json_object_get(line, "line"))));
        }
        fflush(stdout);
        json_decref(line);
    }
    fclose(f);
    return status;
}

static const cli_option socket_option[] = {
    {"socket", OPT_SOCKET, "PATH",
     "cashstoryd's control socket (default: $CASHSTORY_SOCKET, else /run/cashstory/control.sock "
     "for root, else $XDG_RUNTIME_DIR/cashstory/control.sock)"},
    {NULL, 0, NULL, NULL},
};

static const cli_option start_options[] = {
    {"socket", OPT_SOCKET, "PATH", "cashstoryd's control socket (see 'cashstory ps --help')"},
    {"restart", OPT_RESTART, "POLICY",
     "'never' (default) or 'on-failure': restart after a non-zero exit, up to 5 times, waiting "
     "1, 2, 4, 8 and 16 s"},
    {NULL, 0, NULL, NULL},
};

static const cli_option logs_options[] = {
    {"socket", OPT_SOCKET, "PATH", "cashstoryd's control socket (see 'cashstory ps --help')"},
    {"follow", OPT_FOLLOW, NULL, "keep printing new lines until the app stops (-f)"},
    {NULL, 0, NULL, NULL},
};

static int run_policy_reload(cli *c)
{
    int status = CS_EXIT_OK;
    json_t *reply = call(c, json_pack("{s:s}", "command", "policy-reload"), &status);
    if (!reply)
        return status;
    if (c->json) {
        cli_print_json(reply);
        json_decref(reply);
        return CS_EXIT_OK;
    }
    const char *location = json_string_value(json_object_get(reply, "location"));
    printf("policy reloaded from %s (%lld file%s)\n", location ? cli_safe(location) : "(none)",
           (long long)json_integer_value(json_object_get(reply, "files")),
           json_integer_value(json_object_get(reply, "files")) == 1 ? "" : "s");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(reply, "problems"), i, v)
    {
        const char *file = json_string_value(json_object_get(v, "file"));
        const char *message = json_string_value(json_object_get(v, "message"));
        if (strncmp(message, file, strlen(file)) == 0)
            printf("problem: %s\n", cli_safe(message));
        else
            printf("problem: %s: %s\n", cli_safe(file), cli_safe(message));
    }
    json_array_foreach(json_object_get(reply, "apps"), i, v)
        printf("%s (instance %s): %s\n", cli_safe(json_string_value(json_object_get(v, "app"))),
               cli_safe(json_string_value(json_object_get(v, "instance"))),
               json_string_value(json_object_get(v, "action")));
    json_decref(reply);
    return CS_EXIT_OK;
}

const cli_command cmd_policy_reload = {
    .name = "policy reload",
    .usage = "",
    .summary = "Make cashstoryd read its policy again and apply it to running apps.",
    .description = "New bus grants apply at once (subscriptions no longer granted end); an app\n"
                   "whose file-system grants or limits change restarts, unless its policy sets\n"
                   "restart_on_policy_change to false; an app that may no longer run stops. The\n"
                   "daemon also reloads by itself when files in its policy folder change.",
    .options = socket_option,
    .min_args = 0,
    .max_args = 0,
    .common = CLI_JSON,
    .run = run_policy_reload,
};

const cli_command cmd_start = {
    .name = "start",
    .usage = "ID [-- ARGS...]",
    .summary = "Start an installed app through cashstoryd, connected to the bus.",
    .description =
        "The daemon verifies the app and runs it sandboxed as 'run' does, with a bus\n"
        "socket as the app's only channel out. The daemon uses its own --store, --trust\n"
        "and --policy.",
    .options = start_options,
    .min_args = 1,
    .max_args = 257,
    .common = CLI_JSON,
    .run = run_start,
};

const cli_command cmd_ps = {
    .name = "ps",
    .usage = "",
    .summary = "List the apps cashstoryd runs: version, state, pid, uptime, memory.",
    .description = NULL,
    .options = socket_option,
    .min_args = 0,
    .max_args = 0,
    .common = CLI_JSON,
    .run = run_ps,
};

const cli_command cmd_stop = {
    .name = "stop",
    .usage = "ID | INSTANCE",
    .summary =
        "Stop an app's running instances, or one instance (SIGTERM, then SIGKILL after 5 s).",
    .description = NULL,
    .options = socket_option,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON,
    .run = run_stop,
};

const cli_command cmd_logs = {
    .name = "logs",
    .usage = "ID | INSTANCE [--follow]",
    .summary = "Print an instance's output (last 1000 lines); for an app id, its newest running "
               "instance.",
    .description = NULL,
    .options = logs_options,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON,
    .run = run_logs,
};
