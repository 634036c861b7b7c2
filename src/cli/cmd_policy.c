/* policy show, policy explain and policy check: reading the group policy. */
#include "cli/cli.h"
#include "cli/output.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "package/manifest.h"
#include "package/store.h"
#include "package/verify.h"
#include "policy/policy.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_policy(cli *c, cs_policy *policy, bool must_exist)
{
    bool missing_ok;
    const char *location = cs_policy_location(c->policy, &missing_ok);
    cs_error err = {0};
    int rc = cs_policy_load(policy, location, missing_ok && !must_exist, &err);
    return rc < 0 ? cli_fail(c, rc, &err) : -1;
}

static void print_problems(const cs_policy *p)
{
    cs_policy_print_problems(p, stderr, "");
}

/* ---- show ---- */

static int run_show(cli *c)
{
    cs_policy policy;
    int status = load_policy(c, &policy, false);
    if (status >= 0)
        return status;
    json_t *merged = cs_policy_show(&policy);
    if (c->json) {
        cli_print_json(merged);
    } else if (!policy.present) {
        printf("No policy files at %s: nothing is granted beyond each app's data folder, and "
               "unsigned developer folders may run.\n",
               cli_safe(policy.location ? policy.location : CS_POLICY_DEFAULT_DIR));
    } else {
        printf("Policy %s\n\nFiles, in the order they are read:\n", cli_safe(policy.location));
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(merged, "files"), i, v)
        {
            printf("  %-12s %s (%s)\n", json_string_value(json_object_get(v, "level")),
                   cli_safe(json_string_value(json_object_get(v, "path"))),
                   json_string_value(json_object_get(v, "status")));
        }
        printf("\nSettings (level, scope, setting = value, file):\n");
        json_array_foreach(json_object_get(merged, "settings"), i, v)
        {
            cs_autofree char *value =
                json_dumps(json_object_get(v, "value"), JSON_COMPACT | JSON_ENCODE_ANY);
            const char *scope = json_string_value(json_object_get(v, "scope"));
            json_t *over = json_object_get(v, "overridden_by");
            printf("  %-12s %s%s%s = %s  (%s)%s%s\n",
                   json_string_value(json_object_get(v, "level")), cli_safe(scope),
                   *scope ? " " : "", cli_safe(json_string_value(json_object_get(v, "setting"))),
                   cli_safe(value ? value : "?"),
                   cli_safe(json_string_value(json_object_get(v, "file"))),
                   over ? "  overridden by " : "", over ? cli_safe(json_string_value(over)) : "");
        }
    }
    if (!c->json && policy.nproblems) {
        printf("\nProblems (they fail closed: see 'cashstory policy check'):\n");
        fflush(stdout);
        print_problems(&policy);
    }
    json_decref(merged);
    cs_policy_free(&policy);
    return CS_EXIT_OK;
}

/* ---- check ---- */

static int run_check(cli *c)
{
    cs_policy policy;
    cs_error err = {0};
    int rc = cs_policy_load(&policy, c->argv[0], false, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    bool ok = policy.nproblems == 0 && policy.nfiles > 0;
    if (c->json) {
        json_t *merged = cs_policy_show(&policy);
        json_t *out =
            json_pack("{s:b, s:O, s:O}", "ok", ok, "files", json_object_get(merged, "files"),
                      "problems", json_object_get(merged, "problems"));
        cli_print_json(out);
        json_decref(out);
        json_decref(merged);
    } else {
        print_problems(&policy);
        if (policy.nfiles == 0)
            fprintf(stderr,
                    "cashstory policy check: no policy files in %s; put them in managed/ or "
                    "recommended/ as NAME.json\n",
                    cli_safe(c->argv[0]));
        if (ok)
            printf("%s: %zu policy file%s, no problems\n", cli_safe(c->argv[0]), policy.nfiles,
                   policy.nfiles == 1 ? "" : "s");
        else
            fprintf(stderr, "cashstory policy check: %zu problem%s in %s\n",
                    policy.nproblems + (policy.nfiles == 0),
                    policy.nproblems + (policy.nfiles == 0) == 1 ? "" : "s", cli_safe(c->argv[0]));
    }
    cs_policy_free(&policy);
    return ok ? CS_EXIT_OK : CS_EXIT_ERROR;
}

/* ---- explain ---- */

typedef struct explainer {
    const char *only; /* permission filter, or NULL */
    json_t *list;
    bool json;
    size_t printed; /* decisions printed so far */
} explainer;

static bool is_selected(const explainer *e, const char *permission)
{
    if (!e->only)
        return true;
    size_t n = strlen(e->only);
    return strncmp(permission, e->only, n) == 0 && (permission[n] == '\0' || permission[n] == '.');
}

static void show_decision(explainer *e, const char *permission, const cs_policy_decision *d)
{
    if (!is_selected(e, permission))
        return;
    e->printed++;
    if (e->json) {
        json_array_append_new(
            e->list, json_pack("{s:s, s:s, s:b, s:b, s:s, s:s, s:s}", "permission", permission,
                               "target", d->target, "granted", d->granted, "writable", d->writable,
                               "file", d->file, "rule", d->rule, "reason", d->reason));
        return;
    }
    const char *verdict = "denied";
    if (d->granted && strstr(d->target, "(read-write requested)"))
        verdict = "granted read-only";
    else if (d->granted)
        verdict = "granted";
    printf("%s: %s\n", cli_safe(d->target), verdict);
    if (d->file[0])
        printf("    rule %s\n    in %s\n", cli_safe(d->rule), cli_safe(d->file));
    else
        printf("    %s\n", cli_safe(d->reason));
}

static const char *const permissions[] = {"run",
                                          "fs",
                                          "bus",
                                          "bus.publish",
                                          "bus.subscribe",
                                          "net",
                                          "developer_mode",
                                          "unsigned_folders",
                                          "remote_debugging",
                                          "restart_on_policy_change",
                                          "limits",
                                          "update",
                                          NULL};

static int run_explain(cli *c)
{
    const char *only = c->argc > 1 ? c->argv[1] : NULL;
    if (only) {
        const char *const *p = permissions;
        while (*p && strcmp(*p, only) != 0)
            p++;
        if (!*p) {
            fprintf(stderr,
                    "cashstory policy explain: unknown permission '%s'; use one of run, fs, bus, "
                    "bus.publish, bus.subscribe, net, developer_mode, unsigned_folders, "
                    "remote_debugging, restart_on_policy_change, limits, update\n",
                    cli_safe(only));
            return CS_EXIT_USAGE;
        }
    }
    cs_policy policy;
    int status = load_policy(c, &policy, false);
    if (status >= 0)
        return status;
    cs_error err = {0};
    cs_trust trust;
    int rc = cli_load_trust(c, &trust, &policy, &err);
    if (rc < 0) {
        cs_policy_free(&policy);
        return cli_fail(c, rc, &err);
    }

    const char *store = cli_store(c);
    cs_autofree char *dir = NULL;
    cs_verify_result verified;
    memset(&verified, 0, sizeof(verified));
    cs_manifest manifest;
    memset(&manifest, 0, sizeof(manifest));
    rc = cs_store_app_path(store, c->argv[0], &dir, &err);
    if (rc == 0) {
        rc = cs_verify_dir(dir, &trust, &verified, &err);
        if (rc < 0)
            cs_error_prefix(&err, "%s failed verification, so it would not run", c->argv[0]);
    }
    if (rc == 0)
        rc = cs_manifest_load(AT_FDCWD, dir, &manifest, &err);
    cs_trust_free(&trust);
    if (rc < 0) {
        cs_verify_result_free(&verified);
        cs_manifest_free(&manifest);
        cs_policy_free(&policy);
        return cli_fail(c, rc, &err);
    }

    char data_dir[PATH_MAX];
    snprintf(data_dir, sizeof(data_dir), "%s/data/%s", store, manifest.id);
    const cs_signer *s = &verified.signer;
    cs_policy_subject subj = {
        .app_id = manifest.id,
        .version = manifest.version,
        .publisher_key = s->key_id[0] ? s->key_id : NULL,
        .publisher_cert = s->type == CS_SIGNER_X509 ? s->cert_sha256 : NULL,
        .publisher_subject = s->type == CS_SIGNER_X509 ? s->subject : NULL,
        .home = getenv("HOME"),
        .app_data = data_dir,
    };
    explainer e = {.only = only, .list = json_array(), .json = c->json};
    if (!c->json) {
        printf("%s %s, publisher %s", cli_safe(manifest.id), cli_safe(manifest.version),
               s->type == CS_SIGNER_X509 ? cli_safe(s->subject) : s->key_id);
        printf(", policy %s%s\n\n",
               cli_safe(policy.location ? policy.location : CS_POLICY_DEFAULT_DIR),
               policy.present ? "" : " (no policy files)");
        if (policy.nproblems) {
            fflush(stdout);
            print_problems(&policy);
            printf("\n");
        }
    }

    cs_policy_decision d;
    cs_policy_may_run(&policy, &subj, false, &d);
    show_decision(&e, "run", &d);

    json_t *perms = manifest.permissions;
    size_t i;
    json_t *item;
    json_array_foreach(perms ? json_object_get(perms, "fs") : NULL, i, item)
    {
        cs_policy_fs(&policy, &subj, json_string_value(json_object_get(item, "path")),
                     strcmp(json_string_value(json_object_get(item, "access")), "read-write") == 0,
                     &d);
        show_decision(&e, "fs", &d);
    }
    static const char *const directions[] = {"publish", "subscribe"};
    json_t *bus = perms ? json_object_get(perms, "bus") : NULL;
    for (int k = 0; k < 2; k++) {
        char permission[32];
        snprintf(permission, sizeof(permission), "bus.%s", directions[k]);
        json_array_foreach(bus ? json_object_get(bus, directions[k]) : NULL, i, item)
        {
            cs_policy_bus(&policy, &subj, directions[k], json_string_value(item), &d);
            show_decision(&e, permission, &d);
        }
    }
    json_array_foreach(perms ? json_object_get(perms, "net") : NULL, i, item)
    {
        cs_policy_net(&policy, &subj, json_string_value(item), &d);
        show_decision(&e, "net", &d);
    }
    static const char *const flags[] = {"developer_mode", "unsigned_folders", "remote_debugging",
                                        "restart_on_policy_change", NULL};
    for (const char *const *f = flags; *f; f++) {
        cs_policy_flag(&policy, &subj, *f, &d);
        show_decision(&e, *f, &d);
    }
    if (only &&
        (strcmp(only, "fs") == 0 || strncmp(only, "bus", 3) == 0 || strcmp(only, "net") == 0) &&
        e.printed == 0 && !c->json)
        printf("%s requests no %s permissions in its manifest, so it gets none.\n",
               cli_safe(manifest.id), only);

    cs_sandbox_limits limits;
    cs_policy_limits(&policy, &subj, &limits);
    cs_policy_update u;
    cs_policy_update_settings(&policy, manifest.id, subj.publisher_key, &u);
    json_t *limits_json =
        json_pack("{s:I, s:I, s:i}", "memory_mb", (json_int_t)(limits.memory_bytes / (1024 * 1024)),
                  "processes", (json_int_t)limits.max_pids, "cpu_percent", (int)limits.cpu_percent);
    json_t *update_json = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:i, s:s}", "repository", u.repository,
        "channel", u.channel, "pinned", u.pinned, "minimum", u.minimum, "range", u.range, "window",
        u.window, "apply", u.at_next_start ? "next-start" : "immediately", "rollout_percent",
        (int)u.rollout_percent, "auto_rollback", u.auto_rollback, "grace_seconds",
        (int)u.grace_seconds, "stopped", u.denied);
    if (c->json) {
        json_t *out = json_pack("{s:s, s:s, s:s?, s:o}", "app", manifest.id, "version",
                                manifest.version, "policy", policy.location, "decisions", e.list);
        if (is_selected(&e, "limits"))
            json_object_set(out, "limits", limits_json);
        if (is_selected(&e, "update"))
            json_object_set(out, "update", update_json);
        cli_print_json(out);
        json_decref(out);
    } else {
        json_decref(e.list);
        if (is_selected(&e, "limits"))
            printf("limits: memory %llu MiB, %llu processes, CPU %u%%\n",
                   (unsigned long long)(limits.memory_bytes / (1024 * 1024)),
                   (unsigned long long)limits.max_pids, limits.cpu_percent);
        if (is_selected(&e, "update")) {
            char versions[600] = "";
            if (u.pinned[0])
                snprintf(versions, sizeof(versions), "pinned to %s", u.pinned);
            if (u.minimum[0])
                snprintf(versions + strlen(versions), sizeof(versions) - strlen(versions),
                         "%sminimum %s", versions[0] ? ", " : "", u.minimum);
            if (u.range[0])
                snprintf(versions + strlen(versions), sizeof(versions) - strlen(versions),
                         "%srange %s", versions[0] ? ", " : "", u.range);
            printf("update: channel %s, repository %s, versions: %s; window %s, %s, rollout %u%%, "
                   "automatic rollback %s%s%s\n",
                   cli_safe(u.channel), u.repository[0] ? cli_safe(u.repository) : "(none)",
                   versions[0] ? cli_safe(versions) : "any", u.window[0] ? u.window : "any time",
                   u.at_next_start ? "at next start" : "immediately", u.rollout_percent,
                   u.auto_rollback ? "on" : "off", u.denied[0] ? "; stopped: " : "",
                   cli_safe(u.denied));
        }
    }
    json_decref(limits_json);
    json_decref(update_json);
    cs_verify_result_free(&verified);
    cs_manifest_free(&manifest);
    cs_policy_free(&policy);
    return CS_EXIT_OK;
}

static const cli_option policy_option[] = {
    {"policy", OPT_POLICY, "PATH",
     "policy folder or file (default: $CASHSTORY_POLICY, else " CS_POLICY_DEFAULT_DIR ")"},
    {NULL, 0, NULL, NULL},
};

const cli_command cmd_policy_show = {
    .name = "policy show",
    .usage = "",
    .summary = "Show the merged policy, each value with the file it came from.",
    .description =
        "Lists the policy files in the order they are read, then every setting with its\n"
        "level (managed or recommended), scope, value and file. A value replaced by one of\n"
        "higher precedence is marked 'overridden by'. Problems are listed last.",
    .options = policy_option,
    .min_args = 0,
    .max_args = 0,
    .common = CLI_JSON,
    .run = run_show,
};

const cli_command cmd_policy_explain = {
    .name = "policy explain",
    .usage = "ID [PERMISSION]",
    .summary = "Explain, for an installed app, why each request is granted or denied.",
    .description =
        "Verifies the installed app, then lists each permission its manifest requests\n"
        "(run, fs, bus.publish, bus.subscribe, net) and each setting (developer_mode,\n"
        "unsigned_folders, remote_debugging, restart_on_policy_change, limits, update)\n"
        "with the decision, the rule and the policy file that made it. PERMISSION limits\n"
        "the list to one of these names.",
    .options = policy_option,
    .min_args = 1,
    .max_args = 2,
    .common = CLI_TRUST | CLI_JSON,
    .run = run_explain,
};

const cli_command cmd_policy_check = {
    .name = "policy check",
    .usage = "PATH",
    .summary = "Validate a policy folder or file without applying it.",
    .description =
        "Reads PATH as the runtime would (a folder with managed/ and recommended/, or one\n"
        "file) and prints every problem: JSON errors with their line, unknown keys with the\n"
        "nearest known one, wrong values, and files ignored for their owner or mode (when\n"
        "run as root). Exits with status 1 when there is any problem or no policy file,\n"
        "so it can guard an administrator's CI.",
    .options = NULL,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON,
    .run = run_check,
};
