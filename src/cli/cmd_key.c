#include "cli/cli.h"

#include "common/cleanup.h"
#include "crypto/keys.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int run_generate(cli *c)
{
    if (!c->out) {
        fprintf(stderr, "cashstory key generate: --out NAME is required\n");
        return CS_EXIT_USAGE;
    }
    size_t n = strlen(c->out);
    if (n > 4 && (strcmp(c->out + n - 4, ".key") == 0 || strcmp(c->out + n - 4, ".pub") == 0)) {
        fprintf(stderr,
                "cashstory key generate: --out takes a base name: '--out %.*s' writes %.*s.key "
                "and %.*s.pub\n",
                (int)(n - 4), cli_safe(c->out), (int)(n - 4), cli_safe(c->out), (int)(n - 4),
                cli_safe(c->out));
        return CS_EXIT_USAGE;
    }
    cs_error err = {0};
    char key_id[CS_KEY_ID_HEX_LEN + 1];
    int rc = cs_key_generate(c->out, key_id, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    if (c->json) {
        json_t *j = json_object();
        json_object_set_new(j, "key_id", json_string(key_id));
        json_object_set_new(j, "private_key", json_sprintf("%s.key", c->out));
        json_object_set_new(j, "public_key", json_sprintf("%s.pub", c->out));
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(j);
    } else {
        printf("private key: %s.key (mode 0600; keep it secret)\n", c->out);
        printf("public key:  %s.pub\n", c->out);
        printf("key id:      %s\n", key_id);
    }
    return CS_EXIT_OK;
}

static int run_id(cli *c)
{
    cs_error err = {0};
    cs_autopkey EVP_PKEY *key = NULL;
    int rc = cs_key_load_public(c->argv[0], &key, &err);
    if (rc < 0) {
        cs_error_prefix(&err, "%s", c->argv[0]);
        return cli_fail(c, rc, &err);
    }
    char key_id[CS_KEY_ID_HEX_LEN + 1];
    if (cs_key_id(key, key_id) < 0) {
        cs_error_set(&err, EINVAL, "%s: cannot compute the key id", c->argv[0]);
        return cli_fail(c, -EINVAL, &err);
    }
    if (c->json)
        printf("{\"key_id\": \"%s\"}\n", key_id);
    else
        printf("%s\n", key_id);
    return CS_EXIT_OK;
}

static const cli_option generate_options[] = {
    {"out", OPT_OUT, "NAME", "write NAME.key (private, mode 0600) and NAME.pub; required"},
    {NULL, 0, NULL, NULL},
};

const cli_command cmd_key_generate = {
    .name = "key generate",
    .usage = "--out NAME",
    .summary = "Generate an Ed25519 publisher key pair.",
    .description =
        "Writes NAME.key, the private key (PEM, PKCS#8, mode 0600), and NAME.pub, the public\n"
        "key (PEM, SubjectPublicKeyInfo). Both are readable by the openssl command. Existing\n"
        "files are never overwritten. Prints the key id.",
    .options = generate_options,
    .min_args = 0,
    .max_args = 0,
    .common = CLI_JSON,
    .run = run_generate,
};

const cli_command cmd_key_id = {
    .name = "key id",
    .usage = "FILE",
    .summary = "Print the key id of a public key, private key or certificate.",
    .description = "The key id is the SHA-256 of the DER SubjectPublicKeyInfo, in lowercase hex.\n"
                   "Trust configurations list publishers by this id.",
    .options = NULL,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON,
    .run = run_id,
};
