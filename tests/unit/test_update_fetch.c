/* The checks of the download layer: URL schemes, and the error messages for
 * replies of a one-shot HTTP server on 127.0.0.1. Complete transfers are
 * tested end to end against nginx (tests/e2e/update*.sh). */
#include "update/fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* A server on 127.0.0.1 that replies to one request with reply and closes. */
typedef struct one_shot_server {
    int listen_fd;
    char url[64];
    const char *reply;
    size_t reply_len;
    pthread_t thread;
} one_shot_server;

static void *serve_once(void *arg)
{
    one_shot_server *server = arg;
    int fd = accept(server->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char request[4096];
    ssize_t n = read(fd, request, sizeof(request)); /* a GET fits in one read */
    (void)n;
    ssize_t written = write(fd, server->reply, server->reply_len);
    (void)written;
    close(fd);
    return NULL;
}

static void server_start(one_shot_server *server, const char *reply, size_t reply_len)
{
    server->reply = reply;
    server->reply_len = reply_len;
    server->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(server->listen_fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(server->listen_fd, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(server->listen_fd, 1), 0);
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(server->listen_fd, (struct sockaddr *)&address, &length), 0);
    snprintf(server->url, sizeof(server->url), "http://127.0.0.1:%u/blob", ntohs(address.sin_port));
    assert_int_equal(pthread_create(&server->thread, NULL, serve_once, server), 0);
}

static void server_stop(one_shot_server *server)
{
    pthread_join(server->thread, NULL);
    close(server->listen_fd);
}

/* An error page of 300 bytes, larger than the 145 bytes expected. */
static const char not_found_reply[] =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 300\r\n"
    "Connection: close\r\n\r\n"
    "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>"
    "..............................................................................."
    "..............................................................................."
    "........................................................</body></html>\n";

static void not_found_reported_before_size_limit(void **state)
{
    (void)state;
    one_shot_server server;
    server_start(&server, not_found_reply, strlen(not_found_reply));
    cs_fetch_options options = {.allow_http = true};
    uint8_t *data = NULL;
    size_t len = 0;
    cs_error err = {0};
    int rc = cs_fetch_memory(&options, server.url, 145, &data, &len, NULL, &err);
    server_stop(&server);
    assert_int_equal(rc, -ENOENT);
    assert_null(data);
    assert_non_null(strstr(err.message, "not found (HTTP 404)"));
    assert_non_null(strstr(err.message, server.url));
}

static void server_error_reported_before_size_limit(void **state)
{
    (void)state;
    static const char reply[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 200\r\n"
                                "Connection: close\r\n\r\n";
    char full[sizeof(reply) + 200];
    memcpy(full, reply, sizeof(reply) - 1);
    memset(full + sizeof(reply) - 1, 'x', 200);
    one_shot_server server;
    server_start(&server, full, sizeof(reply) - 1 + 200);
    cs_fetch_options options = {.allow_http = true};
    uint8_t *data = NULL;
    size_t len = 0;
    cs_error err = {0};
    int rc = cs_fetch_memory(&options, server.url, 16, &data, &len, NULL, &err);
    server_stop(&server);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(err.message, "HTTP 503"));
}

static void interrupted_download_message_resumes(void **state)
{
    (void)state;
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n"
                                "\r\n0123456789012345678901234567890123456789";
    one_shot_server server;
    server_start(&server, reply, strlen(reply));
    char dir[] = "/tmp/cs-fetch-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], part[72];
    snprintf(path, sizeof(path), "%s/blob", dir);
    snprintf(part, sizeof(part), "%s.part", path);
    cs_fetch_options options = {.allow_http = true};
    uint8_t digest[CS_SHA256_LEN] = {0};
    cs_error err = {0};
    int rc = cs_fetch_file(&options, server.url, path, 100, digest, NULL, &err);
    server_stop(&server);
    struct stat sb;
    int part_rc = stat(part, &sb);
    unlink(part);
    rmdir(dir);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(err.message, "40 of 100 bytes are kept; the next run resumes"));
    assert_int_equal(part_rc, 0);
    assert_int_equal(sb.st_size, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(https_url_allowed),
        cmocka_unit_test(http_url_needs_allow_http),
        cmocka_unit_test(other_schemes_rejected),
        cmocka_unit_test(refused_url_downloads_nothing),
        cmocka_unit_test(not_found_reported_before_size_limit),
        cmocka_unit_test(server_error_reported_before_size_limit),
        cmocka_unit_test(interrupted_download_message_resumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
