/* cashstory: the command-line tool for signed CashStory app packages. */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const cli_command *const commands[] = {
    &cmd_key_generate,
    &cmd_key_id,
    &cmd_pack,
    &cmd_verify,
    &cmd_install,
    &cmd_list,
    &cmd_remove,
    &cmd_run,
    &cmd_start,
    &cmd_ps,
    &cmd_stop,
    &cmd_logs,
    &cmd_update,
    &cmd_rollback,
    &cmd_repo_init,
    &cmd_repo_add,
    &cmd_repo_promote,
    &cmd_repo_timestamp,
    &cmd_repo_resign,
    &cmd_repo_rotate_key,
    &cmd_repo_delegate,
    &cmd_repo_verify,
    &cmd_policy_show,
    &cmd_policy_explain,
    &cmd_policy_check,
    &cmd_policy_reload,
    NULL,
};

static void print_usage(FILE *out)
{
    fprintf(out, "Usage: cashstory COMMAND [OPTIONS] [ARGUMENTS]\n\n"
                 "CashStory Runtime: signed, verified and sandboxed JavaScript desktop apps.\n\n"
                 "Commands:\n");
    for (const cli_command *const *c = commands; *c; c++)
        fprintf(out, "  %-14s %s\n", (*c)->name, (*c)->summary);
    fprintf(out, "\nRun 'cashstory COMMAND --help' for the options of a command.\n"
                 "Options: --help, --version.\n"
                 "Exit status: 0 success, 1 error, 2 usage error, 3 verification failed or "
                 "signer not trusted.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return CS_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cashstory %s\n", CS_VERSION);
        return CS_EXIT_OK;
    }

    /* Two-word commands ("key generate") are matched first. */
    for (const cli_command *const *c = commands; *c; c++) {
        const char *name = (*c)->name;
        const char *space = strchr(name, ' ');
        int consumed;
        if (space) {
            size_t n = (size_t)(space - name);
            if (argc < 3 || strlen(argv[1]) != n || strncmp(argv[1], name, n) != 0 ||
                strcmp(argv[2], space + 1) != 0)
                continue;
            consumed = 2;
        } else {
            if (strcmp(argv[1], name) != 0)
                continue;
            consumed = 1;
        }
        cli cl;
        int status = cli_parse(*c, argc - consumed, argv + consumed, &cl);
        if (status < 0)
            status = (*c)->run(&cl);
        cli_free(&cl);
        return status;
    }

    /* The first word of two-word commands ("key", "repo", "policy") alone
     * lists the commands of that group. */
    size_t group = strlen(argv[1]);
    bool listed = false;
    bool help = argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0);
    for (const cli_command *const *c = commands; *c; c++) {
        const char *name = (*c)->name;
        if (strncmp(name, argv[1], group) != 0 || name[group] != ' ')
            continue;
        fprintf(help ? stdout : stderr, "%s cashstory %s%s%s\n", listed ? "      " : "Usage:", name,
                (*c)->usage[0] ? " " : "", (*c)->usage);
        listed = true;
    }
    if (listed) {
        fprintf(help ? stdout : stderr,
                "\nRun 'cashstory %s COMMAND --help' for the options of a command.\n", argv[1]);
        return help ? CS_EXIT_OK : CS_EXIT_USAGE;
    }
    if (argv[1][0] == '-') {
        fprintf(stderr,
                "cashstory: options go after the command, as in 'cashstory list --json'; see "
                "'cashstory --help'\n");
        return CS_EXIT_USAGE;
    }
    fprintf(stderr, "cashstory: unknown command '%s'; see 'cashstory --help'\n", argv[1]);
    return CS_EXIT_USAGE;
}
