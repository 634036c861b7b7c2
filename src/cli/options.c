#include "cli/cli.h"

#include "common/utf8.h"
#include "package/store.h"
#include "policy/policy.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_option common_options[] = {
    {"store", OPT_STORE, "DIR",
     "store folder of installed apps (default: $CASHSTORY_STORE, else " CS_STORE_DEFAULT ")"},
    {"trust", OPT_TRUST, "FILE",
     "trust configuration (default: $CASHSTORY_TRUST, else " CS_TRUST_DEFAULT_PATH
     " if it exists)"},
    {"trusted-key", OPT_TRUSTED_KEY, "FILE.pub",
     "also trust this publisher key for this command; repeatable"},
    {"json", OPT_JSON, NULL, "print the result as JSON on standard output"},
    {"help", OPT_HELP, NULL, "show this help and exit"},
    {NULL, 0, NULL, NULL},
};

static bool common_applies(const cli_command *cmd, int id)
{
    if (id == OPT_TRUST || id == OPT_TRUSTED_KEY)
        return cmd->common & CLI_TRUST;
    if (id == OPT_JSON)
        return cmd->common & CLI_JSON;
    if (id == OPT_STORE)
        return !(cmd->common & CLI_NO_STORE);
    return true;
}

static size_t count_options(const cli_option *o)
{
    size_t n = 0;
    while (o && o[n].name)
        n++;
    return n;
}

static void print_options(const cli_command *cmd, const cli_option *o)
{
    for (; o && o->name; o++) {
        if (!common_applies(cmd, o->id))
            continue;
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-24s %s\n", left, o->help);
    }
}

void cli_print_help(const cli_command *cmd)
{
    printf("Usage: cashstory %s%s%s\n\n%s\n", cmd->name, cmd->usage[0] ? " " : "", cmd->usage,
           cmd->summary);
    if (cmd->description)
        printf("\n%s\n", cmd->description);
    printf("\nOptions:\n");
    print_options(cmd, cmd->options);
    print_options(cmd, common_options);
    printf("\nExit status: 0 success, 1 error, 2 usage error, 3 verification failed or "
           "signer not trusted.\n");
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof(*c));
    c->command = cmd->name;
    size_t n_cmd = count_options(cmd->options), n_common = count_options(common_options);
    struct option *longopts = calloc(n_cmd + n_common + 1, sizeof(*longopts));
    if (!longopts)
        return CS_EXIT_ERROR;
    const cli_option *sets[2] = {cmd->options, common_options};
    size_t k = 0;
    for (int s = 0; s < 2; s++) {
        for (const cli_option *o = sets[s]; o && o->name; o++) {
            if (!common_applies(cmd, o->id))
                continue;
            longopts[k].name = o->name;
            longopts[k].has_arg = o->arg ? required_argument : no_argument;
            longopts[k].val = o->id;
            k++;
        }
    }

    int status = -1;
    optind = 1;
    opterr = 0;
    int opt;
    while (status < 0 && (opt = getopt_long(argc, argv, ":hf", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_HELP:
            cli_print_help(cmd);
            status = CS_EXIT_OK;
            break;
        case OPT_STORE:
            c->store = optarg;
            break;
        case OPT_TRUST:
            c->trust_path = optarg;
            break;
        case OPT_TRUSTED_KEY: {
            const char **grown = realloc(c->trusted_keys, (c->ntrusted_keys + 1) * sizeof(*grown));
            if (!grown) {
                status = CS_EXIT_ERROR;
                break;
            }
            c->trusted_keys = grown;
            c->trusted_keys[c->ntrusted_keys++] = optarg;
            break;
        }
        case OPT_JSON:
            c->json = true;
            break;
        case OPT_OUT:
            c->out = optarg;
            break;
        case OPT_KEY:
            c->key = optarg;
            break;
        case OPT_CERT:
            c->cert = optarg;
            break;
        case OPT_CHAIN:
            c->chain = optarg;
            break;
        case OPT_INSTALLED:
            c->installed = true;
            break;
        case OPT_DEV:
            c->dev = true;
            break;
        case OPT_POLICY:
            c->policy = optarg;
            break;
        case OPT_VERBOSE:
            c->verbose = true;
            break;
        case OPT_SOCKET:
            c->socket = optarg;
            break;
        case 'f':
            if (strcmp(cmd->name, "logs") != 0) {
                fprintf(stderr, "cashstory %s: unknown option '-f'; see 'cashstory %s --help'\n",
                        cmd->name, cmd->name);
                status = CS_EXIT_USAGE;
                break;
            }
            c->follow = true;
            break;
        case OPT_FOLLOW:
            c->follow = true;
            break;
        case OPT_RESTART:
            c->restart = optarg;
            break;
        case OPT_KEYS:
            c->keys = optarg;
            break;
        case OPT_CHANNEL:
            c->channel = optarg;
            break;
        case OPT_PATTERN: {
            const char **grown = realloc(c->patterns, (c->npatterns + 1) * sizeof(*grown));
            if (!grown) {
                status = CS_EXIT_ERROR;
                break;
            }
            c->patterns = grown;
            c->patterns[c->npatterns++] = optarg;
            break;
        }
        case OPT_EXPIRES:
            c->expires = optarg;
            break;
        case OPT_ROOT:
            c->root = optarg;
            break;
        case OPT_CHECK:
            c->check = true;
            break;
        case ':':
            fprintf(stderr, "cashstory %s: option '%s' needs an argument\n", cmd->name,
                    cli_safe(argv[optind - 1]));
            status = CS_EXIT_USAGE;
            break;
        default:
            fprintf(stderr, "cashstory %s: unknown option '%s'; see 'cashstory %s --help'\n",
                    cmd->name, cli_safe(argv[optind - 1]), cmd->name);
            status = CS_EXIT_USAGE;
            break;
        }
    }
    free(longopts);
    if (status >= 0)
        return status;

    c->argc = argc - optind;
    c->argv = argv + optind;
    if (c->argc < cmd->min_args || c->argc > cmd->max_args) {
        fprintf(stderr, "cashstory %s: expected %s%d argument%s, got %d\nUsage: cashstory %s %s\n",
                cmd->name, cmd->min_args == cmd->max_args ? "" : "at least ", cmd->min_args,
                cmd->min_args == 1 ? "" : "s", c->argc, cmd->name, cmd->usage);
        return CS_EXIT_USAGE;
    }
    return -1;
}

void cli_free(cli *c)
{
    free(c->trusted_keys);
    c->trusted_keys = NULL;
    free(c->patterns);
    c->patterns = NULL;
}

const char *cli_store(const cli *c)
{
    if (c->store)
        return c->store;
    const char *env = getenv("CASHSTORY_STORE");
    return env && *env ? env : CS_STORE_DEFAULT;
}

int cli_load_trust(const cli *c, cs_trust *trust, const cs_policy *policy, cs_error *err)
{
    cs_trust_init(trust);
    const char *path = c->trust_path;
    const char *env = getenv("CASHSTORY_TRUST");
    if (!path && env && *env)
        path = env;
    int rc = path ? cs_trust_load_file(trust, path, false, err)
                  : cs_trust_load_file(trust, CS_TRUST_DEFAULT_PATH, true, err);
    if (path)
        snprintf(trust->description, sizeof(trust->description), "trust file %s", path);
    else if (access(CS_TRUST_DEFAULT_PATH, F_OK) == 0)
        snprintf(trust->description, sizeof(trust->description), "trust file %s",
                 CS_TRUST_DEFAULT_PATH);
    else
        snprintf(trust->description, sizeof(trust->description),
                 "any trust configuration (no --trust, no $CASHSTORY_TRUST, no %s)",
                 CS_TRUST_DEFAULT_PATH);
    if (c->ntrusted_keys > 0) {
        size_t used = strlen(trust->description);
        snprintf(trust->description + used, sizeof(trust->description) - used, " or the %s",
                 c->ntrusted_keys == 1 ? "--trusted-key file" : "--trusted-key files");
    }
    for (size_t i = 0; rc == 0 && i < c->ntrusted_keys; i++)
        rc = cs_trust_add_key_file(trust, c->trusted_keys[i], err);

    /* Publishers and CAs that group policy trusts count for every command. */
    cs_policy own = {0};
    if (rc == 0 && !policy) {
        bool missing_ok;
        const char *location = cs_policy_location(c->policy, &missing_ok);
        rc = cs_policy_load(&own, location, missing_ok, err);
        policy = &own;
    }
    if (rc == 0) {
        rc = cs_policy_add_trust(policy, trust, err);
        if (rc == 0 && policy->present) {
            size_t used = strlen(trust->description);
            snprintf(trust->description + used, sizeof(trust->description) - used,
                     " or the policy %s", policy->location);
        }
    }
    cs_policy_free(&own);
    if (rc < 0)
        cs_trust_free(trust);
    return rc;
}

const char *cli_safe(const char *s)
{
    enum { SLOTS = 8, SIZE = 16384 };
    static char ring[SLOTS][SIZE];
    static unsigned next;
    char *out = ring[next++ % SLOTS];
    size_t o = 0;
    if (!s)
        s = "(null)";
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len && o + 5 < SIZE;) {
        size_t n = p[i] < 0x80 ? 1 : cs_utf8_sequence_length(p + i, len - i);
        bool c1 = n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0;
        if (n == 0 || c1 || p[i] < 0x20 || p[i] == 0x7f) {
            o += (size_t)snprintf(out + o, SIZE - o, "\\x%02x", p[i]);
            i++;
            continue;
        }
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

int cli_fail(const cli *c, int rc, const cs_error *err)
{
    fprintf(stderr, "cashstory %s: %s\n", c->command,
            cli_safe(err && err->message[0] ? err->message : "failed"));
    if (rc == -CS_EVERIFY || rc == -CS_EUNTRUSTED)
        return CS_EXIT_VERIFY;
    return CS_EXIT_ERROR;
}
