#include "cli/cli.h"
#include "cli/output.h"

#include "package/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_install(cli *c)
{
    cs_error err = {0};
    struct stat sb;
    if (stat(c->argv[0], &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fprintf(stderr,
                "cashstory install: %s is a folder; install takes a .csa package (make one with "
                "'cashstory pack %s --key KEY --out FILE.csa')\n",
                cli_safe(c->argv[0]), cli_safe(c->argv[0]));
        return CS_EXIT_USAGE;
    }
    cs_trust trust;
    int rc = cli_load_trust(c, &trust, NULL, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    cs_verify_result res;
    const char *store = cli_store(c);
    rc = cs_store_install(store, c->argv[0], &trust, &res, &err);
    cs_trust_free(&trust);

    if (rc < 0) {
        if (c->json && (rc == -CS_EVERIFY || rc == -CS_EUNTRUSTED)) {
            json_t *j = cli_result_json(c->argv[0], rc, &res);
            json_object_set_new(j, "installed", json_false());
            cli_print_json(j);
            json_decref(j);
        } else if (rc == -CS_EVERIFY || rc == -CS_EUNTRUSTED) {
            for (size_t i = 0; i < res.report.stored; i++)
                fprintf(stderr, "problem: %s\n", cli_safe(res.report.problems[i]));
        }
        cs_verify_result_free(&res);
        cs_error_prefix(&err, "%s not installed", c->argv[0]);
        return cli_fail(c, rc, &err);
    }

    char *path = NULL;
    cs_store_app_path(store, res.index.app_id, &path, NULL);
    if (c->json) {
        json_t *j = cli_result_json(c->argv[0], 0, &res);
        json_object_set_new(j, "installed", json_true());
        json_object_set_new(j, "path", path ? json_string(path) : json_null());
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("installed %s %s (signed by %s) into %s\n", res.index.app_id, res.index.version,
               cli_safe(res.signer.type == CS_SIGNER_X509 ? res.signer.subject : res.signer.key_id),
               cli_safe(path ? path : store));
    }
    free(path);
    cs_verify_result_free(&res);
    return CS_EXIT_OK;
}

static int run_list(cli *c)
{
    cs_error err = {0};
    cs_installed_app *apps;
    size_t n;
    int rc = cs_store_list(cli_store(c), &apps, &n, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    /* A version that an update staged for the app's next start. */
    char **staged = calloc(n ? n : 1, sizeof(*staged));
    for (size_t i = 0; staged && i < n; i++)
        cs_store_link_version(cli_store(c), apps[i].id, "next", NULL, &staged[i], NULL);
    if (c->json) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *app = json_pack("{s:s, s:s, s:s?, s:s?, s:s}", "id", apps[i].id, "version",
                                    apps[i].version, "signer", apps[i].signer, "origin",
                                    apps[i].origin, "path", apps[i].path);
            if (staged && staged[i])
                json_object_set_new(app, "staged", json_string(staged[i]));
            json_array_append_new(list, app);
        }
        cli_print_json(list);
        json_decref(list);
    } else if (n == 0) {
        printf("no apps installed in %s\n", cli_safe(cli_store(c)));
    } else {
        printf("%-32s %-12s %-20s %s\n", "ID", "VERSION", "SIGNER", "ORIGIN");
        for (size_t i = 0; i < n; i++) {
            const char *signer = cli_safe(apps[i].signer ? apps[i].signer : "-");
            char shown[24];
            if (strlen(signer) > 19)
                snprintf(shown, sizeof(shown), "%.16s...", signer);
            else
                snprintf(shown, sizeof(shown), "%s", signer);
            printf("%-32s %-12s %-20s %s\n", apps[i].id, apps[i].version, shown,
                   cli_safe(apps[i].origin ? apps[i].origin : "-"));
        }
        for (size_t i = 0; staged && i < n; i++) {
            if (staged[i])
                printf("%s: %s is staged and becomes current at the next start\n", apps[i].id,
                       cli_safe(staged[i]));
        }
    }
    for (size_t i = 0; staged && i < n; i++)
        free(staged[i]);
    free(staged);
    cs_store_list_free(apps, n);
    return CS_EXIT_OK;
}

static int run_remove(cli *c)
{
    cs_error err = {0};
    int rc = cs_store_remove(cli_store(c), c->argv[0], &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    /* The id passed cs_app_id_check, so it needs no escaping. */
    if (c->json)
        printf("{\"removed\": \"%s\"}\n", c->argv[0]);
    else
        printf("removed %s\n", c->argv[0]);
    return CS_EXIT_OK;
}

const cli_command cmd_install = {
    .name = "install",
    .usage = "FILE.csa",
    .summary = "Verify a package and install it into the store.",
    .description =
        "Checks the package as 'verify' does while extracting it into a staging folder, then\n"
        "moves it into the store as read-only files and switches the app's 'current' link in\n"
        "one rename. After a crash or kill at any point the store holds the old state or the\n"
        "new one. The version it replaces stays as 'previous'. Records the origin (file URL).",
    .options = NULL,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_TRUST | CLI_JSON,
    .run = run_install,
};

const cli_command cmd_list = {
    .name = "list",
    .usage = "",
    .summary = "List the apps installed in the store.",
    .description = NULL,
    .options = NULL,
    .min_args = 0,
    .max_args = 0,
    .common = CLI_JSON,
    .run = run_list,
};

const cli_command cmd_remove = {
    .name = "remove",
    .usage = "ID",
    .summary = "Remove an installed app and all its versions.",
    .description = NULL,
    .options = NULL,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON,
    .run = run_remove,
};
