#include "update/client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* 2026-01-01 at hh:mm UTC; the tests run with TZ=UTC. */
static time_t at(int hh, int mm)
{
    return (time_t)1767225600 + hh * 3600 + mm * 60;
}

static void window_syntax(void **state)
{
    (void)state;
    assert_true(cs_update_window_valid(""));
    assert_true(cs_update_window_valid("08:00-18:00"));
    assert_true(cs_update_window_valid("22:30-06:15"));
    assert_true(cs_update_window_valid("00:00-23:59"));
    assert_false(cs_update_window_valid("8:00-18:00"));
    assert_false(cs_update_window_valid("08:00-24:00"));
    assert_false(cs_update_window_valid("08:60-18:00"));
    assert_false(cs_update_window_valid("08:00 18:00"));
    assert_false(cs_update_window_valid("08:00-18:00 "));
    assert_false(cs_update_window_valid("always"));
}

static void window_same_day(void **state)
{
    (void)state;
    assert_true(cs_update_in_window("", at(3, 0)));
    assert_false(cs_update_in_window("08:00-18:00", at(7, 59)));
    assert_true(cs_update_in_window("08:00-18:00", at(8, 0)));
    assert_true(cs_update_in_window("08:00-18:00", at(17, 59)));
    assert_false(cs_update_in_window("08:00-18:00", at(18, 0)));
    assert_true(cs_update_in_window("12:00-12:00", at(3, 0)));
    assert_false(cs_update_in_window("invalid", at(9, 0)));
}

static void window_across_midnight(void **state)
{
    (void)state;
    assert_true(cs_update_in_window("22:00-06:00", at(23, 30)));
    assert_true(cs_update_in_window("22:00-06:00", at(0, 0)));
    assert_true(cs_update_in_window("22:00-06:00", at(5, 59)));
    assert_false(cs_update_in_window("22:00-06:00", at(6, 0)));
    assert_false(cs_update_in_window("22:00-06:00", at(12, 0)));
    assert_false(cs_update_in_window("22:00-06:00", at(21, 59)));
}

static void rollout_bucket_stable(void **state)
{
    (void)state;
    unsigned a = cs_update_rollout_bucket("machine-1", "com.example.hello");
    assert_int_equal(a, cs_update_rollout_bucket("machine-1", "com.example.hello"));
    assert_true(a < 10000);
    assert_true(cs_update_in_rollout("machine-1", "com.example.hello", 100));
    assert_false(cs_update_in_rollout("machine-1", "com.example.hello", 0));
}

static void rollout_widening_only_adds(void **state)
{
    (void)state;
    unsigned inside[101] = {0};
    for (int m = 0; m < 2000; m++) {
        char id[32];
        snprintf(id, sizeof(id), "machine-%d", m);
        bool was_in = false;
        for (unsigned p = 0; p <= 100; p++) {
            bool in = cs_update_in_rollout(id, "com.example.hello", p);
            if (was_in && !in)
                fail_msg("%s left the rollout when it widened to %u%%", id, p);
            was_in = in;
            inside[p] += in;
        }
    }
    /* About a tenth of 2,000 desktops at 10%, half at 50%. */
    assert_in_range(inside[10], 140, 260);
    assert_in_range(inside[50], 900, 1100);
    assert_int_equal(inside[100], 2000);
}

static void rollout_differs_per_app(void **state)
{
    (void)state;
    int differ = 0;
    for (int m = 0; m < 100; m++) {
        char id[32];
        snprintf(id, sizeof(id), "machine-%d", m);
        differ += cs_update_rollout_bucket(id, "com.example.a") !=
                  cs_update_rollout_bucket(id, "com.example.b");
    }
    assert_true(differ > 90);
}

static void machine_id_from_environment(void **state)
{
    (void)state;
    char out[129];
    setenv("CASHSTORY_MACHINE_ID", "test-desktop-7", 1);
    assert_int_equal(cs_update_machine_id(out, NULL), 0);
    assert_string_equal(out, "test-desktop-7");
    char long_id[200];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    setenv("CASHSTORY_MACHINE_ID", long_id, 1);
    assert_int_equal(cs_update_machine_id(out, NULL), -EINVAL);
    unsetenv("CASHSTORY_MACHINE_ID");
}

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(cs_update_status_name(CS_UPDATE_OUTSIDE_WINDOW), "outside-window");
    assert_string_equal(cs_update_status_name(CS_UPDATE_NOT_IN_ROLLOUT), "not-in-rollout");
    assert_string_equal(cs_update_status_name(CS_UPDATE_PINNED), "pinned");
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_syntax),
        cmocka_unit_test(window_same_day),
        cmocka_unit_test(window_across_midnight),
        cmocka_unit_test(rollout_bucket_stable),
        cmocka_unit_test(rollout_widening_only_adds),
        cmocka_unit_test(rollout_differs_per_app),
        cmocka_unit_test(machine_id_from_environment),
        cmocka_unit_test(status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
