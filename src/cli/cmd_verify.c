#include "cli/cli.h"
#include "cli/output.h"

#include "common/cleanup.h"
#include "package/store.h"
#include "package/verify.h"

#include <stdio.h>
#include <sys/stat.h>

static int run(cli *c)
{
    const char *target = c->argv[0];
    cs_error err = {0};
    cs_trust trust;
    int rc = cli_load_trust(c, &trust, NULL, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);

    cs_autofree char *installed_path = NULL;
    const char *path = target;
    if (c->installed) {
        rc = cs_store_app_path(cli_store(c), target, &installed_path, &err);
        if (rc < 0) {
            cs_trust_free(&trust);
            return cli_fail(c, rc, &err);
        }
        path = installed_path;
    }

    struct stat sb;
    if (stat(path, &sb) < 0) {
        cs_error_errno(&err, errno, "cannot open %s", path);
        cs_trust_free(&trust);
        return cli_fail(c, -errno, &err);
    }
    cs_verify_result res;
    if (S_ISDIR(sb.st_mode))
        rc = cs_verify_dir(path, &trust, &res, &err);
    else
        rc = cs_verify_archive(path, &trust, -1, &res, &err);
    cs_trust_free(&trust);

    /* Errors that stopped verification before a result (I/O, missing file). */
    if (rc < 0 && rc != -CS_EVERIFY && rc != -CS_EUNTRUSTED) {
        cs_verify_result_free(&res);
        return cli_fail(c, rc, &err);
    }
    if (c->json) {
        json_t *j = cli_result_json(target, rc, &res);
        if (c->installed)
            json_object_set_new(j, "path", json_string(path));
        cli_print_json(j);
        json_decref(j);
    } else {
        cli_result_print(c->installed ? path : target, rc, &res);
    }
    cs_verify_result_free(&res);
    return rc == 0 ? CS_EXIT_OK : CS_EXIT_VERIFY;
}

static const cli_option options[] = {
    {"installed", OPT_INSTALLED, NULL,
     "treat the argument as the id of an installed app and check its files in the store"},
    {NULL, 0, NULL, NULL},
};

const cli_command cmd_verify = {
    .name = "verify",
    .usage = "FILE.csa | DIR | --installed ID",
    .summary = "Check a package's signature, signer trust and every file.",
    .description =
        "Verifies the signature over the package index, that the signer is trusted, and that\n"
        "every file matches the index (size, SHA-256, mode), with no file missing or added.\n"
        "Prints the app, version, signer and each problem found. The exit status is 0 only\n"
        "when everything matches and the signer is trusted.",
    .options = options,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_TRUST | CLI_JSON,
    .run = run,
};
