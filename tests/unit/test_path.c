#include "common/path.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void valid_paths_accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "a",       "main.js", "lib/a.js",       "node_modules/x/index.js",
        ".hidden", "a..b",    "caf\xc3\xa9.js", "...",
        "a/.b/c",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cs_error err = {0};
        assert_int_equal(cs_path_check(ok[i], &err), 0);
    }
}

static void invalid_paths_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",      "/etc/passwd", "../x",     "a/../b",       "a/..", ".",
        "./a",   "a/./b",       "a//b",     "a/",           "a\\b", "a\nb",
        "a\x7f", "\xff.js",     "\xc0\xaf", "\xed\xa0\x80", "a\tb",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_error err = {0};
        assert_int_equal(cs_path_check(bad[i], &err), -EINVAL);
        assert_true(strlen(err.message) > 0);
    }
}

static void long_paths_rejected(void **state)
{
    (void)state;
    char component[CS_PATH_COMPONENT_MAX + 2];
    memset(component, 'a', sizeof(component) - 1);
    component[sizeof(component) - 1] = '\0';
    cs_error err = {0};
    assert_int_equal(cs_path_check(component, &err), -EINVAL);
    assert_non_null(strstr(err.message, "longer than 255"));
    component[CS_PATH_COMPONENT_MAX] = '\0';
    assert_int_equal(cs_path_check(component, &err), 0);

    char path[CS_PATH_MAX + 2];
    for (size_t i = 0; i < sizeof(path) - 1; i++)
        path[i] = (i % 100 == 99) ? '/' : 'b';
    path[sizeof(path) - 1] = '\0';
    assert_int_equal(cs_path_check(path, &err), -EINVAL);
    assert_non_null(strstr(err.message, "longer than 1024"));
}

static void reserved_folder_detected(void **state)
{
    (void)state;
    assert_true(cs_path_is_reserved(".cashstory"));
    assert_true(cs_path_is_reserved(".cashstory/index.json"));
    assert_false(cs_path_is_reserved(".cashstoryx"));
    assert_false(cs_path_is_reserved("a/.cashstory/index.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_paths_accepted),
        cmocka_unit_test(invalid_paths_rejected),
        cmocka_unit_test(long_paths_rejected),
        cmocka_unit_test(reserved_folder_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
