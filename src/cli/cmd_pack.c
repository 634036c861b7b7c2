#include "cli/cli.h"
#include "cli/output.h"

#include "package/pack.h"

#include <stdio.h>

static int run(cli *c)
{
    if (!c->key || !c->out) {
        fprintf(stderr, "cashstory pack: --key KEY and --out FILE.csa are required\n");
        return CS_EXIT_USAGE;
    }
    if (c->chain && !c->cert) {
        fprintf(stderr, "cashstory pack: --chain needs --cert\n");
        return CS_EXIT_USAGE;
    }
    cs_pack_options o = {
        .dir = c->argv[0],
        .key_path = c->key,
        .cert_path = c->cert,
        .chain_path = c->chain,
        .out_path = c->out,
    };
    cs_pack_result r;
    cs_error err = {0};
    int rc = cs_pack(&o, &r, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);

    if (r.warning[0])
        fprintf(stderr, "cashstory pack: warning: %s\n", cli_safe(r.warning));
    const char *signer = r.signer.type == CS_SIGNER_X509 ? r.signer.subject : r.signer.key_id;
    if (c->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "package", c->out, "id", r.app_id,
                      "version", r.version, "signer", signer, "key_id", r.signer.key_id, "files",
                      (json_int_t)r.files, "bytes", (json_int_t)r.bytes);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("packed %s %s: %zu files, %llu bytes, signed by %s\nwrote %s\n", r.app_id, r.version,
               r.files, (unsigned long long)r.bytes, cli_safe(signer), cli_safe(c->out));
    }
    return CS_EXIT_OK;
}

static const cli_option options[] = {
    {"key", OPT_KEY, "KEY", "private key that signs (PEM); an Ed25519 key unless --cert is given"},
    {"cert", OPT_CERT, "CERT", "X.509 code-signing certificate (PEM) for KEY; signs with CMS"},
    {"chain", OPT_CHAIN, "CHAIN", "intermediate CA certificates (PEM) to embed with --cert"},
    {"out", OPT_OUT, "FILE.csa", "package file to write (replaced atomically); required"},
    {NULL, 0, NULL, NULL},
};

const cli_command cmd_pack = {
    .name = "pack",
    .usage = "DIR --key KEY [--cert CERT [--chain CHAIN]] --out FILE.csa",
    .summary = "Sign an app folder and write a .csa package.",
    .description =
        "Validates DIR/cashstory.json, lists every file with its size, SHA-256 and mode in\n"
        "the package index, signs the index and writes a POSIX tar archive. The same input\n"
        "gives the same bytes; the creation time is $SOURCE_DATE_EPOCH when set, else the\n"
        "newest file modification time. Symbolic links, devices, FIFOs and setuid files are\n"
        "rejected. Limits: 100000 files, 1 GiB per file, 4 GiB in all.",
    .options = options,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON,
    .run = run,
};
