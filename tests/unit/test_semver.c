#include "package/semver.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

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

static void ranges_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {"",
                                     "*",
                                     "1.2.3",
                                     "=1.2.3",
                                     ">=1.0.0 <2.0.0",
                                     ">1.0.0",
                                     "<=1.2",
                                     "^1.2.3",
                                     "~1.2",
                                     "1.x",
                                     "1.2.X",
                                     "1.*.*",
                                     "  >=1.0.0   <2.0.0  ",
                                     "1.x || >=3.0.0-beta.1",
                                     "1.0.0||2.0.0",
                                     ">=1.2.3-rc.1+build.5"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!cs_semver_range_valid(ok[i]))
            fail_msg("range '%s' rejected", ok[i]);
    }
}

static void ranges_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1.x.3",   "x.1",      ">= 1.0.0", "=>1.0.0", "><1.0.0",  "1.0.0 -",        "1.0 - 2.0",
        "||",      "1.0.0 ||", "|| 1.0.0", "1 | 2",   "1.2-beta", "1..2",           "01.2.3",
        "1.2.3.4", "v1.2.3",   "1.2.3\t",  "^",       "~~1.0.0",  ">=1.0.0,<2.0.0", "1.2.3-",
        "a.b.c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cs_semver_range_valid(bad[i]))
            fail_msg("range '%s' accepted", bad[i]);
    }
    char long_range[CS_SEMVER_RANGE_MAX + 2];
    memset(long_range, ' ', sizeof(long_range) - 2);
    long_range[0] = '1';
    long_range[sizeof(long_range) - 2] = '1';
    long_range[sizeof(long_range) - 1] = '\0';
    assert_false(cs_semver_range_valid(long_range));
}

typedef struct range_case {
    const char *range;
    const char *version;
    bool matches;
} range_case;

static void ranges_match(void **state)
{
    (void)state;
    static const range_case cases[] = {
        {"", "1.0.0", true},
        {"*", "0.0.1", true},
        {"*", "1.0.0-beta", false},
        {"1.2.3", "1.2.3", true},
        {"1.2.3", "1.2.3+build.7", true},
        {"1.2.3", "1.2.4", false},
        {"=1.2.3", "1.2.3", true},
        {">1.2.3", "1.2.4", true},
        {">1.2.3", "1.2.3", false},
        {">=1.2.3", "1.2.3", true},
        {"<1.2.3", "1.2.2", true},
        {"<1.2.3", "1.2.3", false},
        {"<=1.2.3", "1.2.3", true},
        {">=1.0.0 <2.0.0", "1.9.9", true},
        {">=1.0.0 <2.0.0", "2.0.0", false},
        {">=1.0.0 <2.0.0", "0.9.0", false},
        {">=1.0.0 <2.0.0", "1.3.0-beta", false},
        {">=1.0.0 <2.0.0", "2.0.0-rc.1", false},
        {"1.2", "1.2.9", true},
        {"1.2", "1.3.0", false},
        {"1.x", "1.99.0", true},
        {"1.x", "2.0.0", false},
        {"1", "1.0.0", true},
        {">1.2", "1.2.9", false},
        {">1.2", "1.3.0", true},
        {">1", "2.0.0", true},
        {">1", "1.9.0", false},
        {">=1.2", "1.2.0", true},
        {"<1.2", "1.1.9", true},
        {"<1.2", "1.2.0", false},
        {"<=1.2", "1.2.9", true},
        {"<=1.2", "1.3.0", false},
        {"<=1", "1.9.9", true},
        {"<=1", "2.0.0", false},
        {"^1.2.3", "1.2.3", true},
        {"^1.2.3", "1.9.0", true},
        {"^1.2.3", "2.0.0", false},
        {"^1.2.3", "1.2.2", false},
        {"^0.2.3", "0.2.9", true},
        {"^0.2.3", "0.3.0", false},
        {"^0.0.3", "0.0.3", true},
        {"^0.0.3", "0.0.4", false},
        {"^0.2", "0.2.5", true},
        {"^0.2", "0.3.0", false},
        {"^0", "0.9.0", true},
        {"^0", "1.0.0", false},
        {"~1.2.3", "1.2.9", true},
        {"~1.2.3", "1.3.0", false},
        {"~1.2", "1.2.0", true},
        {"~1", "1.5.0", true},
        {"~1", "2.0.0", false},
        {">*", "1.0.0", false},
        {"<*", "1.0.0", false},
        {">=*", "1.0.0", true},
        {"1.0.0 || 2.0.0", "2.0.0", true},
        {"1.0.0 || 2.0.0", "1.5.0", false},
        {"<1.0.0 || >=3.0.0", "3.1.0", true},
        {">=1.3.0-beta.1 <2.0.0", "1.3.0-beta.2", true},
        {">=1.3.0-beta.1 <2.0.0", "1.3.0-alpha", false},
        {">=1.3.0-beta.1 <2.0.0", "1.4.0-beta.2", false},
        {">=1.3.0-beta.1 <2.0.0", "1.4.0", true},
        {"^1.2.3-rc.1", "1.2.3", true},
        {"^1.2.3-rc.1", "1.2.3-rc.2", true},
        {"1.0.0", "not-a-version", false},
        {"1.x.3", "1.0.3", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool m = cs_semver_range_match(cases[i].range, cases[i].version);
        if (m != cases[i].matches)
            fail_msg("range '%s' with version %s: got %s, expected %s", cases[i].range,
                     cases[i].version, m ? "match" : "no match",
                     cases[i].matches ? "match" : "no match");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_versions_accepted),
        cmocka_unit_test(invalid_versions_rejected),
        cmocka_unit_test(precedence_follows_semver),
        cmocka_unit_test(ranges_valid),
        cmocka_unit_test(ranges_invalid),
        cmocka_unit_test(ranges_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
