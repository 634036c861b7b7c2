#include "cli/output.h"

#include "cli/cli.h"

#include "common/hex.h"
#include "common/utf8.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

/* JSON string for text that may not be UTF-8 (file names, certificate
 * fields): invalid bytes become '?', so a field is never silently dropped. */
static json_t *text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return json_null();
    for (size_t i = 0; copy[i];) {
        size_t n = cs_utf8_sequence_length((const unsigned char *)copy + i, strlen(copy + i));
        if (n == 0) {
            copy[i] = '?';
            n = 1;
        }
        i += n;
    }
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

static const char *signer_type_name(cs_signer_type type)
{
    return type == CS_SIGNER_X509 ? "x509" : "ed25519";
}

json_t *cli_result_json(const char *target, int rc, const cs_verify_result *res)
{
    json_t *j = json_object();
    json_object_set_new(j, "target", text(target));
    json_object_set_new(j, "ok", json_boolean(rc == 0));
    if (res->index_valid) {
        json_t *app = json_object();
        json_object_set_new(app, "id", text(res->index.app_id));
        json_object_set_new(app, "version", text(res->index.version));
        json_object_set_new(app, "name", text(res->app_name));
        json_object_set_new(j, "app", app);
        char digest[CS_SHA256_HEX_LEN + 1];
        cs_hex_encode(res->index_sha256, CS_SHA256_LEN, digest);
        json_object_set_new(j, "index_sha256", json_string(digest));
        json_object_set_new(j, "created", json_string(res->index.created));
    } else {
        json_object_set_new(j, "app", json_null());
    }
    if (res->signature_valid) {
        const cs_signer *s = &res->signer;
        json_t *signer = json_object();
        json_object_set_new(signer, "type", json_string(signer_type_name(s->type)));
        json_object_set_new(signer, "key_id", json_string(s->key_id));
        json_object_set_new(signer, "trusted", json_boolean(s->trusted));
        json_object_set_new(signer, "trust", text(s->trust_note));
        if (s->type == CS_SIGNER_X509) {
            json_object_set_new(signer, "subject", text(s->subject));
            json_object_set_new(signer, "certificate_sha256", json_string(s->cert_sha256));
        }
        json_object_set_new(j, "signer", signer);
    } else {
        json_object_set_new(j, "signer", json_null());
    }
    json_object_set_new(j, "files_checked", json_integer((json_int_t)res->files_checked));
    json_object_set_new(j, "bytes_checked", json_integer((json_int_t)res->bytes_checked));
    json_t *problems = json_array();
    for (size_t i = 0; i < res->report.stored; i++)
        json_array_append_new(problems, text(res->report.problems[i]));
    json_object_set_new(j, "problems", problems);
    json_object_set_new(j, "problem_count", json_integer((json_int_t)res->report.count));
    return j;
}

void cli_result_print(const char *target, int rc, const cs_verify_result *res)
{
    printf("package:  %s\n", cli_safe(target));
    if (res->index_valid)
        printf("app:      %s %s%s%s%s\n", res->index.app_id, res->index.version,
               res->app_name ? " (" : "", res->app_name ? cli_safe(res->app_name) : "",
               res->app_name ? ")" : "");
    else
        printf("app:      unknown (no valid signed index)\n");
    if (res->signature_valid) {
        const cs_signer *s = &res->signer;
        if (s->type == CS_SIGNER_X509)
            printf("signer:   X.509 certificate '%s' (key %s)\n", cli_safe(s->subject), s->key_id);
        else
            printf("signer:   Ed25519 key %s\n", s->key_id);
        if (s->trusted)
            printf("trust:    trusted (%s)\n", cli_safe(s->trust_note));
        else
            printf("trust:    NOT trusted: %s\n", cli_safe(s->trust_note));
    } else {
        printf("signer:   none (no valid signature)\n");
    }
    printf("files:    %llu checked, %llu bytes\n", (unsigned long long)res->files_checked,
           (unsigned long long)res->bytes_checked);
    for (size_t i = 0; i < res->report.stored; i++)
        printf("problem:  %s\n", cli_safe(res->report.problems[i]));
    if (res->report.count > res->report.stored)
        printf("problem:  ... and %zu more\n", res->report.count - res->report.stored);
    if (rc == 0)
        printf("result:   OK\n");
    else
        printf("result:   FAILED (%zu problem%s)\n", res->report.count,
               res->report.count == 1 ? "" : "s");
}

void cli_print_json(json_t *value)
{
    json_dumpf(value, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
    fflush(stdout);
}
