/* Shared parts of the cashstory command-line tool. */
#pragma once

#include "common/error.h"
#include "crypto/trust.h"

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses, documented in docs/cli.md. */
enum {
    CS_EXIT_OK = 0,
    CS_EXIT_ERROR = 1,  /* invalid input, missing file, I/O error */
    CS_EXIT_USAGE = 2,  /* unknown command or option, missing argument */
    CS_EXIT_VERIFY = 3, /* tampered, malformed or untrusted package */
};

enum {
    OPT_HELP = 'h',
    OPT_STORE = 1000,
    OPT_TRUST,
    OPT_TRUSTED_KEY,
    OPT_JSON,
    OPT_OUT,
    OPT_KEY,
    OPT_CERT,
    OPT_CHAIN,
    OPT_INSTALLED,
    OPT_DEV,
    OPT_POLICY,
    OPT_VERBOSE,
    OPT_SOCKET,
    OPT_FOLLOW,
    OPT_RESTART,
    OPT_KEYS,
    OPT_CHANNEL,
    OPT_PATTERN,
    OPT_EXPIRES,
    OPT_ROOT,
    OPT_CHECK,
};

typedef struct cli_option {
    const char *name;
    int id;
    const char *arg; /* argument name for help, NULL for a flag */
    const char *help;
} cli_option;

typedef struct cli {
    const char *command; /* full command name for messages, e.g. "key generate" */
    const char *store;
    const char *trust_path;
    const char **trusted_keys;
    size_t ntrusted_keys;
    bool json;
    const char *out;
    const char *key;
    const char *cert;
    const char *chain;
    bool installed;
    bool dev;
    bool verbose;
    const char *policy;
    const char *socket;
    bool follow;
    const char *restart;
    const char *keys;      /* repo: key folder */
    const char *channel;   /* repo add and promote */
    const char **patterns; /* repo delegate, repeatable */
    size_t npatterns;
    const char *expires; /* repo timestamp */
    const char *root;    /* repo verify */
    bool check;          /* update --check */
    int argc;            /* positional arguments */
    char **argv;
} cli;

typedef struct cli_command {
    const char *name;
    const char *usage;       /* e.g. "DIR --key KEY --out FILE.csa" */
    const char *summary;     /* one line */
    const char *description; /* paragraphs for --help */
    const cli_option *options;
    int min_args;
    int max_args;
    unsigned common; /* CLI_TRUST, CLI_JSON, CLI_NO_STORE: which shared options apply */
    int (*run)(cli *c);
} cli_command;

/* Bits of cli_command.common. Every command takes --help, and --store unless
 * it sets CLI_NO_STORE; the other shared options only where their bit is set. */
enum {
    CLI_TRUST = 1,    /* --trust and --trusted-key */
    CLI_JSON = 2,     /* --json */
    CLI_NO_STORE = 4, /* no --store: the command uses no app store */
};

/* Parse argv for command cmd (options from cmd and the common ones). Returns
 * -1 to continue, or an exit status (help printed, or a usage error). */
int cli_parse(const cli_command *cmd, int argc, char **argv, cli *c);
void cli_print_help(const cli_command *cmd);
void cli_free(cli *c);

/* Store folder: --store, else $CASHSTORY_STORE, else the system default. */
const char *cli_store(const cli *c);

/* Load the trust configuration named by --trust (or $CASHSTORY_TRUST, or the
 * system default when present), every --trusted-key and what policy trusts.
 * policy is the already loaded policy, or NULL to read the one that
 * --policy, $CASHSTORY_POLICY or the default folder names. */
struct cs_policy;
int cli_load_trust(const cli *c, cs_trust *trust, const struct cs_policy *policy, cs_error *err);

/* Print "cashstory COMMAND: message" on stderr and return the exit status
 * that matches rc. */
int cli_fail(const cli *c, int rc, const cs_error *err);

/* Return s with control characters, C1 controls and invalid UTF-8 bytes
 * written as \xNN, so that hostile names in packages cannot move the cursor
 * or forge output lines. The result stays valid until eight more calls. */
const char *cli_safe(const char *s);

/* Commands. */
extern const cli_command cmd_key_generate, cmd_key_id, cmd_pack, cmd_verify, cmd_install, cmd_list,
    cmd_remove, cmd_run, cmd_start, cmd_ps, cmd_stop, cmd_logs;
extern const cli_command cmd_repo_init, cmd_repo_add, cmd_repo_promote, cmd_repo_timestamp,
    cmd_repo_rotate_key, cmd_repo_delegate, cmd_repo_verify, cmd_repo_resign;
extern const cli_command cmd_update, cmd_rollback;
extern const cli_command cmd_policy_show, cmd_policy_explain, cmd_policy_check, cmd_policy_reload;
