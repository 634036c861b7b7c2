#include "common/hex.h"
#include "crypto/digest.h"
#include "package/index.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define ZERO_HEX "0000000000000000000000000000000000000000000000000000000000000000"
#define KEY_HEX "1111111111111111111111111111111111111111111111111111111111111111"

/* An index document with the given "files" array; the manifest entry always
 * has digest ZERO_HEX, which matches manifest_sha256. */
static char *index_with(const char *files, const char *extra)
{
    char *text = NULL;
    int n = asprintf(&text,
                     "{\"format\": \"cashstory-index/1\","
                     " \"app\": {\"id\": \"com.example.app\", \"version\": \"1.0.0\"},"
                     " \"manifest_sha256\": \"" ZERO_HEX "\","
                     " \"signer\": {\"type\": \"ed25519\", \"key_id\": \"" KEY_HEX "\"},"
                     " \"created\": \"2026-01-01T00:00:00Z\", \"files\": [%s]%s}",
                     files, extra);
    assert_true(n > 0);
    return text;
}

#define FILE_ENTRY(path, size, mode)                                                               \
    "{\"path\": \"" path "\", \"size\": " #size ", \"sha256\": \"" ZERO_HEX                        \
    "\", \"mode\": \"" mode "\"}"
#define MANIFEST_ENTRY FILE_ENTRY("cashstory.json", 10, "0644")

static void valid_index_parses(void **state)
{
    (void)state;
    char *text = index_with(
        MANIFEST_ENTRY ", " FILE_ENTRY("lib/a.js", 5, "0644") ", " FILE_ENTRY("main.js", 7, "0755"),
        "");
    cs_index idx;
    cs_error err = {0};
    assert_int_equal(cs_index_parse(text, strlen(text), &idx, &err), 0);
    assert_string_equal(idx.app_id, "com.example.app");
    assert_int_equal(idx.nfiles, 3);
    assert_int_equal(idx.total_size, 22);
    assert_non_null(cs_index_find(&idx, "lib/a.js"));
    assert_null(cs_index_find(&idx, "lib"));
    assert_int_equal(cs_index_find(&idx, "main.js")->mode, 0755);

    /* Serializing and parsing again gives the same bytes. */
    char *again = cs_index_serialize(&idx);
    cs_index idx2;
    assert_int_equal(cs_index_parse(again, strlen(again), &idx2, &err), 0);
    char *third = cs_index_serialize(&idx2);
    assert_string_equal(again, third);
    free(third);
    free(again);
    cs_index_free(&idx2);
    cs_index_free(&idx);
    free(text);
}

typedef struct index_case {
    const char *files;
    const char *extra;
    const char *error;
} index_case;

static const index_case bad_cases[] = {
    {FILE_ENTRY("main.js", 1, "0644"), "", "no entry for cashstory.json"},
    {MANIFEST_ENTRY ", " MANIFEST_ENTRY, "", "duplicate or out of order"},
    {FILE_ENTRY("main.js", 1, "0644") ", " MANIFEST_ENTRY, "", "duplicate or out of order"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("lib", 1, "0644") ", " FILE_ENTRY("lib/a.js", 1, "0644"), "",
     "both a file and a folder"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("lib", 1, "0644") ", " FILE_ENTRY(
         "lib-x", 1, "0644") ", " FILE_ENTRY("lib/a.js", 1, "0644"),
     "", "both a file and a folder"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("x.sh", 1, "4755"), "", "mode '4755'"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("x", 1, "0600"), "", "mode '0600'"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("x", -1, "0644"), "", "non-negative integer"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("x", 1073741825, "0644"), "", "exceeds the limit"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("../x", 1, "0644"), "", "'..' component"},
    {MANIFEST_ENTRY ", " FILE_ENTRY("/etc/passwd", 1, "0644"), "", "absolute"},
    {MANIFEST_ENTRY ", " FILE_ENTRY(".cashstory/index.json", 1, "0644"), "", "reserved"},
    {MANIFEST_ENTRY, ", \"extra\": 1", "unknown field 'extra'"},
    {MANIFEST_ENTRY ", {\"path\": \"x\", \"size\": 1, \"sha256\": \"abc\", \"mode\": \"0644\"}", "",
     "64 lowercase hex digits"},
    {MANIFEST_ENTRY ", {\"path\": \"x\", \"size\": 1, \"sha256\": \"" ZERO_HEX
                    "\", \"mode\": \"0644\", \"owner\": \"root\"}",
     "", "unknown field 'owner'"},
    {MANIFEST_ENTRY ", {\"path\": \"x\", \"size\": \"1\", \"sha256\": \"" ZERO_HEX
                    "\", \"mode\": \"0644\"}",
     "", "non-negative integer"},
};

static void invalid_indexes_rejected(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        char *text = index_with(bad_cases[i].files, bad_cases[i].extra);
        cs_index idx;
        cs_error err = {0};
        int rc = cs_index_parse(text, strlen(text), &idx, &err);
        free(text);
        if (rc == 0) {
            cs_index_free(&idx);
            fail_msg("case %zu was accepted, expected '%s'", i, bad_cases[i].error);
        }
        if (!strstr(err.message, bad_cases[i].error))
            fail_msg("case %zu: expected '%s' in '%s'", i, bad_cases[i].error, err.message);
    }
}

static void manifest_digest_must_match(void **state)
{
    (void)state;
    char *text = NULL;
    assert_true(asprintf(&text,
                         "{\"format\": \"cashstory-index/1\","
                         " \"app\": {\"id\": \"com.example.app\", \"version\": \"1.0.0\"},"
                         " \"manifest_sha256\": \"" KEY_HEX "\","
                         " \"signer\": {\"type\": \"ed25519\", \"key_id\": \"" KEY_HEX "\"},"
                         " \"created\": \"2026-01-01T00:00:00Z\", \"files\": [" MANIFEST_ENTRY
                         "]}") > 0);
    cs_index idx;
    cs_error err = {0};
    assert_int_equal(cs_index_parse(text, strlen(text), &idx, &err), -EINVAL);
    assert_non_null(strstr(err.message, "manifest_sha256"));
    free(text);
}

static void header_fields_checked(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"format\": \"cashstory-index/2\"}",
        "{\"format\": \"cashstory-index/1\", \"app\": {\"id\": \"x\", \"version\": \"1.0.0\"}}",
        "{\"format\": \"cashstory-index/1\", \"app\": {\"id\": \"a.b\", \"version\": \"1\"}}",
        "{\"format\": \"cashstory-index/1\", \"app\": {\"id\": \"a.b\", \"version\": \"1.0.0\"},"
        " \"created\": \"yesterday\"}",
        "{\"format\": \"cashstory-index/1\", \"app\": {\"id\": \"a.b\", \"version\": \"1.0.0\"},"
        " \"created\": \"2026-01-01T00:00:00Z\", \"manifest_sha256\": \"" ZERO_HEX "\","
        " \"signer\": {\"type\": \"rsa\", \"key_id\": \"" KEY_HEX "\"}, \"files\": []}",
        "{\"format\": \"cashstory-index/1\", \"app\": {\"id\": \"a.b\", \"version\": \"1.0.0\"},"
        " \"created\": \"2026-01-01T00:00:00Z\", \"manifest_sha256\": \"" ZERO_HEX "\","
        " \"signer\": {\"type\": \"x509\", \"key_id\": \"" KEY_HEX "\"}, \"files\": []}",
        "[1, 2]",
        "{\"format\": \"cashstory-index/1\", \"format\": \"cashstory-index/1\"}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        cs_index idx;
        cs_error err = {0};
        if (cs_index_parse(docs[i], strlen(docs[i]), &idx, &err) == 0) {
            cs_index_free(&idx);
            fail_msg("document %zu was accepted", i);
        }
        assert_true(strlen(err.message) > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_index_parses),
        cmocka_unit_test(invalid_indexes_rejected),
        cmocka_unit_test(manifest_digest_must_match),
        cmocka_unit_test(header_fields_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
