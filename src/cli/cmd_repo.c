/* cashstory repo: create and publish to an update repository. */
#include "cli/cli.h"

#include "common/cleanup.h"
#include "package/manifest.h"
#include "package/semver.h"
#include "update/repo.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool require(const cli *c, const char *value, const char *option)
{
    if (value)
        return true;
    fprintf(stderr, "cashstory %s: %s is required; see 'cashstory %s --help'\n", c->command, option,
            c->command);
    return false;
}

/* Usage errors for arguments that the metadata format would reject, so that
 * a command stops before it loads keys or packages. */
static bool check_channel(const cli *c)
{
    if (cs_meta_channel_name_valid(c->channel))
        return true;
    fprintf(stderr,
            "cashstory %s: channel name '%s' is invalid: use 1 to %d bytes of a-z, 0-9, '.', '_' "
            "and '-', starting with a letter or digit, such as stable or beta\n",
            c->command, cli_safe(c->channel), CS_META_NAME_MAX);
    return false;
}

static bool check_app(const cli *c, const char *app_id, const char *version)
{
    cs_error err = {0};
    if (cs_app_id_check(app_id, &err) < 0) {
        fprintf(stderr, "cashstory %s: %s\n", c->command, cli_safe(err.message));
        return false;
    }
    if (!cs_semver_valid(version)) {
        fprintf(stderr,
                "cashstory %s: version '%s' is invalid: use a semantic version such as 1.2.0\n",
                c->command, cli_safe(version));
        return false;
    }
    return true;
}

static bool check_delegation(const cli *c, const char *name)
{
    if (!cs_meta_role_name_valid(name)) {
        fprintf(stderr,
                "cashstory %s: role name '%s' is invalid: use 1 to %d bytes of a-z, 0-9 and '-', "
                "other than targets, such as acme\n",
                c->command, cli_safe(name), CS_META_NAME_MAX);
        return false;
    }
    if (strcmp(name, "root") == 0 || strcmp(name, "snapshot") == 0 ||
        strcmp(name, "timestamp") == 0) {
        fprintf(stderr,
                "cashstory %s: role name '%s' is reserved, because 'repo resign' uses it for a "
                "top-level role; choose another name, such as acme\n",
                c->command, name);
        return false;
    }
    if (c->npatterns > CS_META_MAX_PATTERNS) {
        fprintf(stderr, "cashstory %s: %zu --pattern options given, at most %d\n", c->command,
                c->npatterns, CS_META_MAX_PATTERNS);
        return false;
    }
    for (size_t i = 0; i < c->npatterns; i++) {
        if (!cs_meta_pattern_valid(c->patterns[i])) {
            fprintf(stderr,
                    "cashstory %s: pattern '%s' is invalid: use an app id (com.acme.chart) or an "
                    "app id followed by '.*' (com.acme.*)\n",
                    c->command, cli_safe(c->patterns[i]));
            return false;
        }
    }
    return true;
}

static const char *plural(unsigned long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void print_time(FILE *out, time_t t)
{
    char when[21];
    cs_meta_format_time(t, when);
    fputs(when, out);
}

/* Print what a command published, as text or (with --json) one object. */
static void print_result(const cli *c, const cs_repo_result *r)
{
    if (c->json) {
        char when[21];
        cs_meta_format_time(r->timestamp_expires, when);
        json_t *j = json_pack("{s:I, s:I, s:I, s:I}", "root_version", (json_int_t)r->root_version,
                              "targets_version", (json_int_t)r->targets_version, "snapshot_version",
                              (json_int_t)r->snapshot_version, "timestamp_version",
                              (json_int_t)r->timestamp_version);
        if (r->timestamp_version)
            json_object_set_new(j, "timestamp_expires", json_string(when));
        if (r->app_id[0]) {
            json_object_set_new(j, "app_id", json_string(r->app_id));
            json_object_set_new(j, "version", json_string(r->version));
        }
        if (r->role[0]) {
            json_object_set_new(j, "role", json_string(r->role));
            json_object_set_new(j, "role_version", json_integer((json_int_t)r->role_version));
        }
        if (r->key_id[0])
            json_object_set_new(j, "key_id", json_string(r->key_id));
        if (r->blobs_added || r->blobs_present) {
            json_object_set_new(j, "blobs_added", json_integer((json_int_t)r->blobs_added));
            json_object_set_new(j, "bytes_added", json_integer((json_int_t)r->bytes_added));
            json_object_set_new(j, "blobs_present", json_integer((json_int_t)r->blobs_present));
        }
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(j);
        return;
    }
    if (r->blobs_added || r->blobs_present)
        printf("blobs: %llu new (%llu %s), %llu already stored\n",
               (unsigned long long)r->blobs_added, (unsigned long long)r->bytes_added,
               plural(r->bytes_added, "byte", "bytes"), (unsigned long long)r->blobs_present);
    if (r->key_id[0])
        printf("%s: %s\n", r->key_generated ? "new key id" : "key id", r->key_id);
    printf("published: root %llu", (unsigned long long)r->root_version);
    if (r->targets_version)
        printf(", targets %llu", (unsigned long long)r->targets_version);
    if (r->role_version)
        printf(", %s %llu", r->role, (unsigned long long)r->role_version);
    if (r->snapshot_version)
        printf(", snapshot %llu", (unsigned long long)r->snapshot_version);
    if (r->timestamp_version) {
        printf(", timestamp %llu (expires ", (unsigned long long)r->timestamp_version);
        print_time(stdout, r->timestamp_expires);
        putchar(')');
    }
    putchar('\n');
}

/* Print each line of result->warnings on standard error. */
static void print_warnings(const cli *c, const cs_repo_result *result)
{
    const char *line = result->warnings;
    while (*line) {
        const char *end = strchr(line, '\n');
        int n = end ? (int)(end - line) : (int)strlen(line);
        fprintf(stderr, "cashstory %s: warning: %.*s\n", c->command, n, line);
        line += n + (end ? 1 : 0);
    }
}

static int run_init(cli *c)
{
    if (!require(c, c->keys, "--keys DIR"))
        return CS_EXIT_USAGE;
    cs_error err = {0};
    cs_repo_result result;
    int rc = cs_repo_init(c->argv[0], c->keys, &result, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    if (!c->json)
        printf("created repository %s; keys in %s\n"
               "Move root.key and targets.key to offline storage. Hosts that publish need\n"
               "snapshot.key and timestamp.key; the timestamp timer needs timestamp.key only.\n",
               cli_safe(c->argv[0]), cli_safe(c->keys));
    print_result(c, &result);
    return CS_EXIT_OK;
}

static int run_add(cli *c)
{
    if (!require(c, c->keys, "--keys DIR") || !require(c, c->channel, "--channel NAME") ||
        !check_channel(c))
        return CS_EXIT_USAGE;
    cs_error err = {0};
    cs_trust trust;
    cs_trust_init(&trust);
    int rc = cli_load_trust(c, &trust, NULL, &err);
    if (rc == 0) {
        cs_repo_result result;
        rc = cs_repo_add(c->argv[0], c->keys, c->argv[1], c->channel, &trust, &result, &err);
        if (rc == 0) {
            if (!c->json)
                printf("added %s %s to channel %s\n", result.app_id, result.version, c->channel);
            print_result(c, &result);
        }
    }
    cs_trust_free(&trust);
    return rc < 0 ? cli_fail(c, rc, &err) : CS_EXIT_OK;
}

static int run_promote(cli *c)
{
    if (!require(c, c->keys, "--keys DIR") || !require(c, c->channel, "--channel NAME") ||
        !check_channel(c) || !check_app(c, c->argv[1], c->argv[2]))
        return CS_EXIT_USAGE;
    cs_error err = {0};
    cs_repo_result result;
    int rc =
        cs_repo_promote(c->argv[0], c->keys, c->argv[1], c->argv[2], c->channel, &result, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    if (!c->json)
        printf("channel %s of %s now points to %s\n", c->channel, result.app_id, result.version);
    print_result(c, &result);
    return CS_EXIT_OK;
}

/* Warn about an --expires time in the past. Clients reject a file once the
 * time is more than CS_META_CLOCK_SKEW seconds past its expiry. */
static void warn_past_expiry(const cli *c, time_t expires, time_t now)
{
    if (expires >= now)
        return;
    char last[21];
    cs_meta_format_time(expires + CS_META_CLOCK_SKEW, last);
    if (now - expires > CS_META_CLOCK_SKEW)
        fprintf(stderr,
                "cashstory %s: warning: --expires %s is in the past; clients reject this "
                "timestamp now, because it expired more than %d s ago\n",
                c->command, cli_safe(c->expires), CS_META_CLOCK_SKEW);
    else
        fprintf(stderr,
                "cashstory %s: warning: --expires %s is in the past; clients accept this "
                "timestamp until %s (%d s of clock skew), then reject it\n",
                c->command, cli_safe(c->expires), last, CS_META_CLOCK_SKEW);
}

static int run_timestamp(cli *c)
{
    if (!require(c, c->keys, "--keys DIR"))
        return CS_EXIT_USAGE;
    cs_error err = {0};
    time_t expires = 0;
    if (c->expires) {
        struct tm tm = {0};
        const char *end = strptime(c->expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end) {
            fprintf(stderr,
                    "cashstory %s: --expires '%s' is not a UTC time such as "
                    "2027-01-31T12:00:00Z\n",
                    c->command, cli_safe(c->expires));
            return CS_EXIT_USAGE;
        }
        expires = timegm(&tm);
        warn_past_expiry(c, expires, time(NULL));
    }
    cs_repo_result result;
    int rc = cs_repo_timestamp(c->argv[0], c->keys, expires, &result, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    print_warnings(c, &result);
    print_result(c, &result);
    return CS_EXIT_OK;
}

static int run_resign(cli *c)
{
    if (!require(c, c->keys, "--keys DIR"))
        return CS_EXIT_USAGE;
    cs_error err = {0};
    cs_repo_result result;
    int rc = cs_repo_resign(c->argv[0], c->keys, c->argv[1], &result, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    print_warnings(c, &result);
    print_result(c, &result);
    return CS_EXIT_OK;
}

static int run_rotate(cli *c)
{
    if (!require(c, c->keys, "--keys DIR"))
        return CS_EXIT_USAGE;
    cs_error err = {0};
    cs_repo_result result;
    int rc = cs_repo_rotate_key(c->argv[0], c->keys, c->argv[1], &result, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    if (!c->json)
        printf("the %s role now uses the key in %s/%s.key; the old key is kept as "
               "%s.retired-%llu.key\n",
               c->argv[1], cli_safe(c->keys), c->argv[1], c->argv[1],
               (unsigned long long)result.root_version - 1);
    print_result(c, &result);
    return CS_EXIT_OK;
}

static int run_delegate(cli *c)
{
    if (!require(c, c->keys, "--keys DIR") || !require(c, c->patterns ? "" : NULL, "--pattern") ||
        !check_delegation(c, c->argv[1]))
        return CS_EXIT_USAGE;
    cs_error err = {0};
    cs_repo_result result;
    int rc =
        cs_repo_delegate(c->argv[0], c->keys, c->argv[1], c->patterns, c->npatterns, &result, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    if (!c->json)
        printf("role %s signs with %s/delegation-%s.key; give that key to the publisher\n",
               cli_safe(c->argv[1]), cli_safe(c->keys), cli_safe(c->argv[1]));
    print_result(c, &result);
    return CS_EXIT_OK;
}

static int run_verify(cli *c)
{
    cs_error err = {0};
    cs_repo_summary s;
    int rc = cs_repo_verify(c->argv[0], c->root, time(NULL), &s, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    char when[21];
    cs_meta_format_time(s.timestamp_expires, when);
    if (c->json) {
        json_t *j = json_pack(
            "{s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "root_version",
            (json_int_t)s.root_version, "timestamp_version", (json_int_t)s.timestamp_version,
            "snapshot_version", (json_int_t)s.snapshot_version, "targets_version",
            (json_int_t)s.targets_version, "timestamp_expires", when, "delegations",
            (json_int_t)s.delegations, "apps", (json_int_t)s.apps, "versions",
            (json_int_t)s.versions, "blobs_checked", (json_int_t)s.blobs_checked, "bytes_checked",
            (json_int_t)s.bytes_checked);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(j);
    } else {
        printf("repository %s verified: root %llu, timestamp %llu (expires %s), snapshot %llu, "
               "targets %llu\n",
               cli_safe(c->argv[0]), (unsigned long long)s.root_version,
               (unsigned long long)s.timestamp_version, when,
               (unsigned long long)s.snapshot_version, (unsigned long long)s.targets_version);
        printf("%zu %s, %zu %s, %zu %s, %llu %s (%llu %s) checked\n", s.delegations,
               plural(s.delegations, "delegation", "delegations"), s.apps,
               plural(s.apps, "app", "apps"), s.versions, plural(s.versions, "version", "versions"),
               (unsigned long long)s.blobs_checked, plural(s.blobs_checked, "blob", "blobs"),
               (unsigned long long)s.bytes_checked, plural(s.bytes_checked, "byte", "bytes"));
    }
    return CS_EXIT_OK;
}

static const cli_option keys_option[] = {
    {"keys", OPT_KEYS, "DIR", "key folder, outside the repository folder; required"},
    {NULL, 0, NULL, NULL},
};

static const cli_option channel_options[] = {
    {"keys", OPT_KEYS, "DIR", "key folder, outside the repository folder; required"},
    {"channel", OPT_CHANNEL, "NAME",
     "channel to point at the version: a-z, 0-9, '.', '_' and '-', such as stable; required"},
    {NULL, 0, NULL, NULL},
};

static const cli_option timestamp_options[] = {
    {"keys", OPT_KEYS, "DIR", "key folder holding timestamp.key; required"},
    {"expires", OPT_EXPIRES, "TIME",
     "expiry as a UTC time YYYY-MM-DDTHH:MM:SSZ (default: one day from now)"},
    {NULL, 0, NULL, NULL},
};

static const cli_option delegate_options[] = {
    {"keys", OPT_KEYS, "DIR", "key folder, outside the repository folder; required"},
    {"pattern", OPT_PATTERN, "PATTERN",
     "app id (com.acme.chart) or app id prefix (com.acme.*) the role may publish; repeatable, "
     "at least one"},
    {NULL, 0, NULL, NULL},
};

static const cli_option verify_options[] = {
    {"root", OPT_ROOT, "FILE", "trusted root metadata to start from (default: DIR/1.root.json)"},
    {NULL, 0, NULL, NULL},
};

const cli_command cmd_repo_init = {
    .name = "repo init",
    .usage = "DIR --keys KEYDIR",
    .summary = "Create an update repository and its role keys.",
    .description =
        "Creates DIR with version 1 of root.json, targets.json, snapshot.json and\n"
        "timestamp.json, and KEYDIR (mode 0700) with one Ed25519 key per role: root.key,\n"
        "targets.key, snapshot.key and timestamp.key. KEYDIR must be outside DIR, which a\n"
        "web server publishes. Keep root.key and targets.key offline; only commands that\n"
        "change what they sign need them. See docs/repository.md.",
    .options = keys_option,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON | CLI_NO_STORE,
    .run = run_init,
};

const cli_command cmd_repo_add = {
    .name = "repo add",
    .usage = "DIR FILE.csa --channel NAME --keys KEYDIR",
    .summary = "Publish a signed package to a channel of a repository.",
    .description =
        "Verifies the package like 'cashstory verify' (its signer must be trusted through\n"
        "--trust or --trusted-key), stores each of its files once in DIR/blobs/sha256,\n"
        "lists the version and points the channel at it. Re-signs the targets file of the\n"
        "role that owns the app id (targets.key, or delegation-NAME.key for a delegated\n"
        "role), the snapshot (snapshot.key) and the timestamp (timestamp.key).",
    .options = channel_options,
    .min_args = 2,
    .max_args = 2,
    .common = CLI_JSON | CLI_TRUST | CLI_NO_STORE,
    .run = run_add,
};

const cli_command cmd_repo_promote = {
    .name = "repo promote",
    .usage = "DIR ID VERSION --channel NAME --keys KEYDIR",
    .summary = "Point a channel of an app at a published version.",
    .description =
        "Moves the channel forward (beta to stable) or back (to withdraw a bad version).\n"
        "Needs the key of the role that owns the app id, snapshot.key and timestamp.key.",
    .options = channel_options,
    .min_args = 3,
    .max_args = 3,
    .common = CLI_JSON | CLI_NO_STORE,
    .run = run_promote,
};

const cli_command cmd_repo_timestamp = {
    .name = "repo timestamp",
    .usage = "DIR --keys KEYDIR",
    .summary = "Re-sign the short-lived timestamp (run it from a timer).",
    .description =
        "Writes a new timestamp.json for the current snapshot. Clients reject a timestamp\n"
        "that expired more than 5 minutes ago, so run this more often than its lifetime,\n"
        "for example every hour for the default lifetime of one day. Needs timestamp.key only.\n"
        "When KEYDIR also has snapshot.key, a snapshot that expires within 3.5 days is\n"
        "re-signed too. Warns about root, targets and delegated files that expire within\n"
        "30 days.",
    .options = timestamp_options,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON | CLI_NO_STORE,
    .run = run_timestamp,
};

const cli_command cmd_repo_resign = {
    .name = "repo resign",
    .usage = "DIR ROLE --keys KEYDIR",
    .summary = "Re-sign one role's metadata with a fresh expiry.",
    .description =
        "Publishes the next version of ROLE's file with the same content and a new expiry:\n"
        "root (the next N.root.json, signed by root.key), targets, snapshot, timestamp, or\n"
        "a delegated role's name. The snapshot and timestamp that list it are re-signed\n"
        "too. Run it for targets and root before they expire when nothing is published;\n"
        "'repo timestamp' warns 30 days ahead.",
    .options = keys_option,
    .min_args = 2,
    .max_args = 2,
    .common = CLI_JSON | CLI_NO_STORE,
    .run = run_resign,
};

const cli_command cmd_repo_rotate_key = {
    .name = "repo rotate-key",
    .usage = "DIR ROLE --keys KEYDIR",
    .summary = "Replace the key of the root, targets, snapshot or timestamp role.",
    .description =
        "Generates ROLE.key in KEYDIR, publishes the next N.root.json signed by the old and\n"
        "the new root keys, and re-signs what the role signs. Clients follow the chain of\n"
        "root versions. The old key files are kept as ROLE.retired-N.key and .pub. Needs\n"
        "root.key, plus the keys of the files that are re-signed.",
    .options = keys_option,
    .min_args = 2,
    .max_args = 2,
    .common = CLI_JSON | CLI_NO_STORE,
    .run = run_rotate,
};

const cli_command cmd_repo_delegate = {
    .name = "repo delegate",
    .usage = "DIR NAME --pattern PATTERN... --keys KEYDIR",
    .summary = "Let a publisher role publish the app ids that match its patterns.",
    .description =
        "Adds (or updates) delegated role NAME in targets.json with the key\n"
        "KEYDIR/delegation-NAME.key, generated when missing. The role may only list app\n"
        "ids that match its patterns, and no other role may list them. Needs targets.key,\n"
        "snapshot.key and timestamp.key.",
    .options = delegate_options,
    .min_args = 2,
    .max_args = 2,
    .common = CLI_JSON | CLI_NO_STORE,
    .run = run_delegate,
};

const cli_command cmd_repo_verify = {
    .name = "repo verify",
    .usage = "DIR",
    .summary = "Check every signature, version, expiry and blob of a repository.",
    .description =
        "Checks the repository as a client would, starting from 1.root.json (or --root):\n"
        "the root chain, timestamp, snapshot, targets and delegated files, then every blob\n"
        "of every listed version by size and SHA-256, and each package's signature.",
    .options = verify_options,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON | CLI_NO_STORE,
    .run = run_verify,
};
