/* The checks of the download layer that need no server; the transfers
 * themselves are tested end to end against nginx (tests/e2e/update*.sh). */
#include "update/fetch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void https_url_allowed(void **state)
{
    (void)state;
    cs_fetch_options options = {0};
    assert_int_equal(cs_fetch_check_url(&options, "https://127.0.0.1/repo", NULL), 0);
    assert_int_equal(cs_fetch_check_url(&options, "HTTPS://127.0.0.1/repo", NULL), 0);
}

static void http_url_needs_allow_http(void **state)
{
    (void)state;
    cs_fetch_options options = {0};
    cs_error err = {0};
    assert_int_equal(cs_fetch_check_url(&options, "http://127.0.0.1/repo", &err), -EPERM);
    assert_non_null(strstr(err.message, "allow_http"));
    options.allow_http = true;
    assert_int_equal(cs_fetch_check_url(&options, "http://127.0.0.1/repo", NULL), 0);
}

static void other_schemes_rejected(void **state)
{
    (void)state;
    cs_fetch_options options = {.allow_http = true};
    static const char *const urls[] = {"file:///etc/passwd", "ftp://127.0.0.1/x", "127.0.0.1/repo",
                                       "", "httpx://127.0.0.1/"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
        assert_int_equal(cs_fetch_check_url(&options, urls[i], NULL), -EPERM);
}

static void refused_url_downloads_nothing(void **state)
{
    (void)state;
    cs_fetch_options options = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    cs_fetch_stats stats = {0};
    assert_int_equal(
        cs_fetch_memory(&options, "http://127.0.0.1:9/x", 1024, &data, &len, &stats, NULL), -EPERM);
    assert_null(data);
    assert_int_equal(stats.requests, 0);

    char path[] = "/tmp/cs-fetch-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    uint8_t digest[CS_SHA256_LEN] = {0};
    assert_int_equal(cs_fetch_file(&options, "file:///etc/hostname", path, 1, digest, NULL, NULL),
                     -EPERM);
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(https_url_allowed),
        cmocka_unit_test(http_url_needs_allow_http),
        cmocka_unit_test(other_schemes_rejected),
        cmocka_unit_test(refused_url_downloads_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
