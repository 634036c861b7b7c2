#include "package/semver.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void valid_versions_accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {"0.0.0",
                                     "1.2.3",
                                     "10.20.30",
                                     "1.0.0-alpha",
                                     "1.0.0-alpha.1",
                                     "1.0.0-0.3.7",
                                     "1.0.0-x.7.z.92",
                                     "1.0.0+20130313144700",
                                     "1.0.0-beta+exp.sha.5114f85",
                                     "1.0.0+001"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(cs_semver_valid(ok[i]));
}

static void invalid_versions_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",       "1",        "1.2",        "1.2.3.4",
        "01.2.3", "1.02.3",   "1.2.03",     "1.2.3-",
        "1.2.3+", "1.2.3-01", "1.2.3-a..b", "v1.2.3",
        "1.2.3 ", "-1.2.3",   "1.2.3-a_b",  "99999999999999999999.0.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(cs_semver_valid(bad[i]));
}

static void precedence_follows_semver(void **state)
{
    (void)state;
    /* The order given by semver.org, section 11. */
    static const char *const ordered[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                          "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                          "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                          "1.1.0",       "2.0.0",         "10.0.0"};
    size_t n = sizeof(ordered) / sizeof(ordered[0]);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_true(cs_semver_compare(ordered[i], ordered[i + 1]) < 0);
        assert_true(cs_semver_compare(ordered[i + 1], ordered[i]) > 0);
    }
    assert_int_equal(cs_semver_compare("1.0.0+a", "1.0.0+b"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_versions_accepted),
        cmocka_unit_test(invalid_versions_rejected),
        cmocka_unit_test(precedence_follows_semver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
