#include "package/manifest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define BASE                                                                                       \
    "\"id\": \"com.example.app\", \"name\": \"App\", \"version\": \"1.0.0\", \"main\": "           \
    "\"main.js\""

typedef struct manifest_case {
    const char *json;
    const char *error; /* substring of the expected error, NULL when valid */
} manifest_case;

static const manifest_case cases[] = {
    {"{" BASE "}", NULL},
    {"{" BASE ", \"description\": \"d\", \"runtime\": \">=1.0.0 <2.0.0\"}", NULL},
    {"{" BASE ", \"permissions\": {\"fs\": [{\"path\": \"~/Documents\", \"access\": \"read\"},"
     " {\"path\": \"${APP_DATA}/cache\", \"access\": \"read-write\"},"
     " {\"path\": \"/srv/shared\", \"access\": \"read\"}],"
     " \"net\": [\"api.example.com\", \"*.example.org\", \"example.net:8443\"],"
     " \"bus\": {\"publish\": [\"quotes/*\"], \"subscribe\": [\"orders/new\"]}}}",
     NULL},
    {"{" BASE ", \"windows\": [{\"id\": \"main\", \"url\": \"ui/index.html\", \"width\": 800,"
     " \"height\": 600, \"resizable\": true, \"title\": \"T\"}]}",
     NULL},

    {"", "invalid JSON"},
    {"not json", "invalid JSON"},
    {"[]", "top level must be an object"},
    {"{" BASE ", \"id\": \"x.y\"}", "duplicate"},
    {"{\"name\": \"App\", \"version\": \"1.0.0\", \"main\": \"main.js\"}",
     "missing required field 'id'"},
    {"{" BASE ", \"verison\": \"1\"}", "unknown field 'verison' (did you mean 'version'?)"},
    {"{\"id\": 5, \"name\": \"App\", \"version\": \"1.0.0\", \"main\": \"main.js\"}",
     "field 'id' must be a string, not integer"},
    {"{\"id\": \"com.example.app\", \"name\": \"App\", \"version\": 1, \"main\": \"main.js\"}",
     "field 'version' must be a string"},
    {"{\"id\": \"app\", \"name\": \"App\", \"version\": \"1.0.0\", \"main\": \"main.js\"}",
     "reverse-DNS"},
    {"{\"id\": \"Com.Example\", \"name\": \"App\", \"version\": \"1.0.0\", \"main\": \"main.js\"}",
     "lowercase"},
    {"{\"id\": \"com..x\", \"name\": \"App\", \"version\": \"1.0.0\", \"main\": \"main.js\"}",
     "empty label"},
    {"{\"id\": \"com.example.app\", \"name\": \"App\", \"version\": \"1.0\", \"main\": "
     "\"main.js\"}",
     "field 'version': '1.0' is not a semantic version"},
    {"{\"id\": \"com.example.app\", \"name\": \"\", \"version\": \"1.0.0\", \"main\": \"main.js\"}",
     "field 'name' is empty"},
    {"{\"id\": \"com.example.app\", \"name\": \"App\", \"version\": \"1.0.0\", \"main\": "
     "\"../x.js\"}",
     "field 'main'"},
    {"{\"id\": \"com.example.app\", \"name\": \"App\", \"version\": \"1.0.0\", \"main\": "
     "\"/x.js\"}",
     "absolute"},
    {"{\"id\": \"com.example.app\", \"name\": \"App\", \"version\": \"1.0.0\","
     " \"main\": \".cashstory/index.json\"}",
     "reserved"},
    {"{" BASE ", \"permissions\": []}", "field 'permissions' must be an object"},
    {"{" BASE ", \"permissions\": {\"files\": []}}", "unknown field 'files'"},
    {"{" BASE ", \"permissions\": {\"fs\": [{\"path\": \"relative\", \"access\": \"read\"}]}}",
     "must be absolute"},
    {"{" BASE ", \"permissions\": {\"fs\": [{\"path\": \"/a/../etc\", \"access\": \"read\"}]}}",
     "'..' component"},
    {"{" BASE ", \"permissions\": {\"fs\": [{\"path\": \"/a\", \"access\": \"write\"}]}}",
     "'read' or 'read-write'"},
    {"{" BASE ", \"permissions\": {\"net\": [\"http://x\"]}}", "host name pattern"},
    {"{" BASE ", \"permissions\": {\"net\": [\"x.com:0\"]}}", "host name pattern"},
    {"{" BASE ", \"permissions\": {\"net\": [\"x.com:70000\"]}}", "host name pattern"},
    {"{" BASE ", \"permissions\": {\"bus\": {\"publish\": [\"a*\"]}}}", "topic pattern"},
    {"{" BASE ", \"permissions\": {\"bus\": {\"publish\": [\"a//b\"]}}}", "topic pattern"},
    {"{" BASE ", \"permissions\": {\"bus\": {\"listen\": []}}}", "unknown field 'listen'"},
    {"{" BASE ", \"windows\": [{\"id\": \"w\", \"url\": \"a.html\", \"width\": 50}]}",
     "outside 100-16384"},
    {"{" BASE ", \"windows\": [{\"id\": \"w\"}]}", "missing required field 'url'"},
    {"{" BASE ", \"runtime\": \"$(rm -rf)\"}", "not a version range"},
    {"{" BASE ", \"runtime\": \">>1.0.0\"}", "not a version range"},
    {"{" BASE ", \"runtime\": \"1.0.0 ||\"}", "not a version range"},
    {"{\"id\": \"com.example.app\", \"name\": \"A\\u0000B\", \"version\": \"1.0.0\","
     " \"main\": \"main.js\"}",
     "invalid JSON"},
    {"{\"id\": \"com.example.app\", \"name\": \"A\\nB\", \"version\": \"1.0.0\","
     " \"main\": \"main.js\"}",
     "control character"},
};

static void manifest_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cs_manifest m;
        cs_error err = {0};
        int rc = cs_manifest_parse(cases[i].json, strlen(cases[i].json), &m, &err);
        if (cases[i].error == NULL) {
            if (rc != 0)
                fail_msg("case %zu should be valid but failed: %s", i, err.message);
            assert_string_equal(m.id, "com.example.app");
            cs_manifest_free(&m);
        } else {
            if (rc == 0) {
                cs_manifest_free(&m);
                fail_msg("case %zu should fail with '%s' but was accepted", i, cases[i].error);
            }
            if (!strstr(err.message, cases[i].error))
                fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].error, err.message);
            assert_non_null(strstr(err.message, "cashstory.json"));
        }
    }
}

static void oversized_manifest_rejected(void **state)
{
    (void)state;
    size_t len = CS_MANIFEST_MAX + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, ' ', len);
    cs_manifest m;
    cs_error err = {0};
    assert_int_equal(cs_manifest_parse(big, len, &m, &err), -EFBIG);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(manifest_table),
        cmocka_unit_test(oversized_manifest_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
