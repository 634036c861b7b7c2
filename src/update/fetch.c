#include "update/fetch.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT 15
#define DEFAULT_LOW_SPEED_TIME 30
#define DEFAULT_LOW_SPEED_BYTES 1
#define MAX_REDIRECTS 5

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct cs_fetch_session {
    CURL *curl;
};

cs_fetch_session *cs_fetch_session_new(void)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return NULL;
    cs_fetch_session *session = calloc(1, sizeof(*session));
    if (!session)
        return NULL;
    session->curl = curl_easy_init();
    if (!session->curl) {
        free(session);
        return NULL;
    }
    return session;
}

void cs_fetch_session_free(cs_fetch_session *session)
{
    if (!session)
        return;
    curl_easy_cleanup(session->curl);
    free(session);
}

/* One transfer: where the content goes and what has arrived so far. */
typedef struct transfer {
    CURL *curl;
    uint64_t limit;    /* total bytes allowed, counting offset */
    uint64_t offset;   /* bytes already in the file before this request */
    uint64_t received; /* bytes received by this request */

    /* Memory sink. */
    uint8_t *buf;
    size_t cap;

    /* File sink. */
    int fd;
    cs_sha256_ctx *sha;

    long long range_start; /* start of the response's Content-Range, -1 without one */
    bool status_checked;
    bool too_large;
    bool bad_range;
    int write_errno;
} transfer;

static size_t on_header(char *line, size_t size, size_t count, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * count;

    /* Each response of a redirect chain starts with its status line. */
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        t->range_start = -1;
        return n;
    }
    static const char name[] = "content-range:";
    if (n > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
        char value[128];
        size_t v = n - (sizeof(name) - 1);
        if (v >= sizeof(value))
            v = sizeof(value) - 1;
        memcpy(value, line + sizeof(name) - 1, v);
        value[v] = '\0';
        long long start;
        if (sscanf(value, " bytes %lld-", &start) == 1 && start >= 0)
            t->range_start = start;
    }
    return n;
}

/* Start the file over when the server sent the whole content in reply to
 * a range request. */
static bool restart_file(transfer *t)
{
    if (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0) {
        t->write_errno = errno;
        return false;
    }
    cs_sha256_free(t->sha);
    t->sha = cs_sha256_new();
    if (!t->sha) {
        t->write_errno = ENOMEM;
        return false;
    }
    t->offset = 0;
    return true;
}

static size_t on_data(char *data, size_t size, size_t count, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * count;

    if (!t->status_checked) {
        t->status_checked = true;
        long code = 0;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 400)
            return 0; /* an error page; transfer_error reports the status */
        if (t->fd >= 0 && t->offset > 0) {
            if (code == 206 && t->range_start != (long long)t->offset) {
                t->bad_range = true;
                return 0;
            }
            if (code != 206 && !restart_file(t))
                return 0;
        }
    }

    if (t->offset + t->received + n > t->limit) {
        t->too_large = true;
        return 0;
    }

    if (t->fd >= 0) {
        int rc = cs_write_all(t->fd, data, n);
        if (rc < 0) {
            t->write_errno = -rc;
            return 0;
        }
        cs_sha256_update(t->sha, data, n);
    } else {
        size_t used = (size_t)t->received;
        if (used + n + 1 > t->cap) {
            size_t cap = t->cap ? t->cap : 16384;
            while (cap < used + n + 1)
                cap *= 2;
            uint8_t *grown = realloc(t->buf, cap);
            if (!grown) {
                t->write_errno = ENOMEM;
                return 0;
            }
            t->buf = grown;
            t->cap = cap;
        }
        memcpy(t->buf + used, data, n);
    }
    t->received += n;
    return n;
}

int cs_fetch_check_url(const cs_fetch_options *options, const char *url, cs_error *err)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return 0;
    if (strncasecmp(url, "http://", 7) == 0) {
        if (options->allow_http)
            return 0;
        return cs_error_set(err, EPERM,
                            "%s: plain HTTP is not allowed for this repository (use https://, or "
                            "set \"allow_http\": true for it in policy)",
                            url);
    }
    return cs_error_set(err, EPERM, "%s: only https:// URLs are allowed", url);
}

/* Map a failed transfer to an error code and a message that names url. */
static int transfer_error(transfer *t, CURLcode rc, const char *url, const char *detail,
                          cs_error *err)
{
    /* The status comes first: an error page may be larger than the file
     * expected, and "not found" is the useful message then. */
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 404 || code == 410)
        return cs_error_set(err, ENOENT, "%s: not found (HTTP %ld)", url, code);
    if (code >= 400)
        return cs_error_set(err, EIO, "%s: the server returned HTTP %ld", url, code);
    if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return cs_error_set(err, EFBIG,
                            "%s: the server sent more than the expected %" PRIu64 " bytes", url,
                            t->limit);
    if (t->bad_range)
        return cs_error_set(err, EIO,
                            "%s: the server replied to the range request from byte %" PRIu64
                            " with another range",
                            url, t->offset);
    if (t->write_errno)
        return cs_error_errno(err, t->write_errno, "%s: cannot store the download", url);

    const char *why = detail[0] ? detail : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return cs_error_set(err, ETIMEDOUT, "%s: timed out: %s", url, why);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return cs_error_set(err, EPERM, "%s: protocol not allowed: %s", url, why);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return cs_error_set(err, EPROTO, "%s: TLS failed: %s", url, why);
    default:
        return cs_error_set(err, EIO, "%s: download failed: %s", url, why);
    }
}

/* Run one GET of url into t, from byte t->offset when it is not zero. */
static int perform(const cs_fetch_options *options, const char *url, transfer *t, cs_error *err)
{
    int rc = cs_fetch_check_url(options, url, err);
    if (rc < 0)
        return rc;
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return cs_error_set(err, EIO, "cannot initialize libcurl: %s",
                            curl_easy_strerror(curl_init_result));

    if (options->session) {
        /* A reset keeps the handle's open connections and TLS sessions. */
        t->curl = options->session->curl;
        curl_easy_reset(t->curl);
    } else {
        t->curl = curl_easy_init();
    }
    if (!t->curl)
        return cs_error_set(err, ENOMEM, "cannot create a libcurl handle");
    t->range_start = -1;
    t->status_checked = false;
    t->received = 0;

    bool https = strncasecmp(url, "https://", 8) == 0;
    char detail[CURL_ERROR_SIZE] = "";
    char range[32];
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, options->allow_http ? "https,http" : "https");
    /* A redirect keeps the scheme, so https never falls back to http. */
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (options->ca_file && options->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, options->ca_file);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                     options->connect_timeout > 0 ? options->connect_timeout
                                                  : (long)DEFAULT_CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     options->low_speed_time > 0 ? options->low_speed_time
                                                 : (long)DEFAULT_LOW_SPEED_TIME);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
                     options->low_speed_bytes > 0 ? options->low_speed_bytes
                                                  : (long)DEFAULT_LOW_SPEED_BYTES);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->limit);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cashstory/" CS_VERSION);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    if (t->offset > 0) {
        snprintf(range, sizeof(range), "%" PRIu64 "-", t->offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }

    CURLcode res = curl_easy_perform(c);
    if (res != CURLE_OK) {
        rc = transfer_error(t, res, url, detail, err);
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200 && code != 206)
            rc = cs_error_set(err, EIO, "%s: the server returned HTTP %ld", url, code);
    }
    if (!options->session)
        curl_easy_cleanup(c);
    t->curl = NULL;
    return rc;
}

int cs_fetch_memory(const cs_fetch_options *options, const char *url, size_t max, uint8_t **out,
                    size_t *len, cs_fetch_stats *stats, cs_error *err)
{
    *out = NULL;
    *len = 0;
    int rc = cs_fetch_check_url(options, url, err);
    if (rc < 0)
        return rc;
    transfer t = {.limit = max, .fd = -1};
    rc = perform(options, url, &t, err);
    if (stats) {
        stats->bytes_received += t.received;
        stats->requests++;
    }
    if (rc < 0) {
        free(t.buf);
        return rc;
    }
    if (!t.buf) {
        t.buf = malloc(1);
        if (!t.buf)
            return cs_error_set(err, ENOMEM, "out of memory");
    }
    t.buf[t.received] = '\0';
    *out = t.buf;
    *len = (size_t)t.received;
    return 0;
}

/* Hash the first length bytes of fd into sha. */
static int hash_prefix(int fd, uint64_t length, cs_sha256_ctx *sha)
{
    uint8_t buf[65536];
    uint64_t done = 0;
    while (done < length) {
        size_t want = length - done < sizeof(buf) ? (size_t)(length - done) : sizeof(buf);
        ssize_t n = pread(fd, buf, want, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        cs_sha256_update(sha, buf, (size_t)n);
        done += (uint64_t)n;
    }
    return 0;
}

/* One attempt of cs_fetch_file: continue part_path from where it ends. Sets
 * *resumed when it continued a previous download. */
static int fetch_part(const cs_fetch_options *options, const char *url, const char *part_path,
                      uint64_t size, uint8_t digest[CS_SHA256_LEN], cs_fetch_stats *stats,
                      bool *resumed, cs_error *err)
{
    *resumed = false;
    transfer t = {.limit = size, .fd = -1};
    t.fd = open(part_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (t.fd < 0)
        return cs_error_errno(err, errno, "cannot open %s", part_path);
    int rc = 0;
    struct stat sb;
    if (fstat(t.fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        rc = cs_error_set(err, EIO, "%s is not a regular file", part_path);
        goto out;
    }
    t.sha = cs_sha256_new();
    if (!t.sha) {
        rc = cs_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    uint64_t have = (uint64_t)sb.st_size;
    if (have > size) {
        if (ftruncate(t.fd, 0) < 0) {
            rc = cs_error_errno(err, errno, "cannot truncate %s", part_path);
            goto out;
        }
        have = 0;
    }
    if (have > 0) {
        rc = hash_prefix(t.fd, have, t.sha);
        if (rc < 0) {
            rc = cs_error_errno(err, -rc, "cannot read %s", part_path);
            goto out;
        }
        *resumed = true;
        if (stats)
            stats->resumed_from = have;
    }
    if (lseek(t.fd, (off_t)have, SEEK_SET) < 0) {
        rc = cs_error_errno(err, errno, "cannot seek in %s", part_path);
        goto out;
    }
    t.offset = have;

    if (have < size) {
        rc = perform(options, url, &t, err);
        if (stats) {
            stats->bytes_received += t.received;
            stats->requests++;
        }
        if (rc < 0)
            goto out;
    }
    if (t.offset == 0 && *resumed) {
        *resumed = false;
        if (stats)
            stats->resumed_from = 0;
    }
    if (t.offset + t.received != size) {
        rc = cs_error_set(err, EIO, "%s: the transfer ended after %" PRIu64 " of %" PRIu64 " bytes",
                          url, t.offset + t.received, size);
        goto out;
    }
    cs_sha256_final(t.sha, digest);
    if (fsync(t.fd) < 0)
        rc = cs_error_errno(err, errno, "cannot flush %s", part_path);

out:
    cs_sha256_free(t.sha);
    close(t.fd);
    return rc;
}

int cs_fetch_file(const cs_fetch_options *options, const char *url, const char *path, uint64_t size,
                  const uint8_t sha256[CS_SHA256_LEN], cs_fetch_stats *stats, cs_error *err)
{
    int rc = cs_fetch_check_url(options, url, err);
    if (rc < 0)
        return rc;
    cs_autofree char *part_path = NULL;
    if (asprintf(&part_path, "%s.part", path) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");

    /* A resumed download whose result does not verify may have continued a
     * damaged .part file, so it is tried once more from the start. */
    for (int attempt = 0; attempt < 2; attempt++) {
        uint8_t digest[CS_SHA256_LEN];
        bool resumed = false;
        rc = fetch_part(options, url, part_path, size, digest, stats, &resumed, err);
        if (rc == -ENOENT || rc == -EPERM || rc == -EFBIG || rc == -EPROTO)
            unlink(part_path);
        struct stat sb;
        if ((rc == -EIO || rc == -ETIMEDOUT) && err && stat(part_path, &sb) == 0 &&
            sb.st_size > 0) {
            size_t used = strlen(err->message);
            snprintf(err->message + used, sizeof(err->message) - used,
                     " (%lld of %" PRIu64 " bytes are kept; the next run resumes the download)",
                     (long long)sb.st_size, size);
        }
        if (rc < 0)
            return rc;
        if (cs_digest_equal(digest, sha256)) {
            if (rename(part_path, path) < 0)
                return cs_error_errno(err, errno, "cannot rename %s to %s", part_path, path);
            return 0;
        }
        unlink(part_path);
        if (!resumed) {
            char got[CS_SHA256_HEX_LEN + 1], expected[CS_SHA256_HEX_LEN + 1];
            cs_hex_encode(digest, CS_SHA256_LEN, got);
            cs_hex_encode(sha256, CS_SHA256_LEN, expected);
            return cs_error_set(err, CS_EVERIFY, "%s: the download has SHA-256 %s, expected %s",
                                url, got, expected);
        }
    }
    return cs_error_set(err, CS_EVERIFY, "%s: the download does not have the expected SHA-256",
                        url);
}
