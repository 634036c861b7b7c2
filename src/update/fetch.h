/* HTTPS downloads for the update client, with libcurl.
 *
 * Every download verifies the server certificate and host name, against the
 * system CAs or a CA file. It speaks only https, or also http when the
 * caller allows it for a repository that policy names. Redirects may only
 * keep the scheme of the original URL. A download stops as soon as the
 * server sends more bytes than the caller's limit, and a connection is
 * aborted when it takes longer than connect_timeout to open or moves fewer
 * than low_speed_bytes per second for low_speed_time seconds.
 *
 * Errors: -EPERM for a URL whose scheme is not allowed, -ENOENT for HTTP 404
 * and 410, -EFBIG when the server sends more than the limit, -ETIMEDOUT,
 * -EPROTO for TLS and certificate failures, -CS_EVERIFY for a file whose
 * size or SHA-256 differs from the expected one, -EIO for other transfer
 * failures (including a server that closes the connection early). Functions
 * are safe to call from several threads at once, each with its own
 * session or none. */
#pragma once

#include "common/error.h"
#include "crypto/digest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A libcurl handle kept across downloads, so that requests to one server
 * reuse the connection and the TLS session. One thread at a time may use
 * a session. */
typedef struct cs_fetch_session cs_fetch_session;

cs_fetch_session *cs_fetch_session_new(void);
void cs_fetch_session_free(cs_fetch_session *session);

typedef struct cs_fetch_options {
    const char *ca_file;       /* PEM CA certificates for the server; NULL for the system's */
    bool allow_http;           /* accept http:// URLs (signatures still verify every byte) */
    long connect_timeout;      /* seconds; 0 for the default of 15 */
    long low_speed_time;       /* seconds below low_speed_bytes per second; 0 for 30 */
    long low_speed_bytes;      /* bytes per second; 0 for 1 */
    cs_fetch_session *session; /* NULL: one connection per download */
} cs_fetch_options;

/* What one download transferred, for logs and benchmarks. */
typedef struct cs_fetch_stats {
    uint64_t bytes_received; /* bytes of content received over the network */
    uint64_t resumed_from;   /* offset a resumed download started at, 0 when it started anew */
    unsigned requests;       /* HTTP requests made */
} cs_fetch_stats;

/* Check that url has a scheme that options allow ("https://", or "http://"
 * with allow_http). Returns 0 or -EPERM with a message naming the URL. */
int cs_fetch_check_url(const cs_fetch_options *options, const char *url, cs_error *err);

/* Download url into a new buffer *out (NUL-terminated, *len bytes without
 * the NUL). Fails with -EFBIG as soon as more than max bytes arrive. stats
 * may be NULL. */
int cs_fetch_memory(const cs_fetch_options *options, const char *url, size_t max, uint8_t **out,
                    size_t *len, cs_fetch_stats *stats, cs_error *err);

/* Download url to path when it has exactly size bytes with the given
 * SHA-256. Bytes are hashed while they are written to "PATH.part". A
 * ".part" file left by an interrupted download is hashed and continued with
 * an HTTP Range request, or restarted when the server ignores the range.
 * The whole file is checked at the end, then fsynced and renamed to path, so
 * path either does not exist or holds the verified content. A file that
 * fails the check is deleted. stats may be NULL. */
int cs_fetch_file(const cs_fetch_options *options, const char *url, const char *path, uint64_t size,
                  const uint8_t sha256[CS_SHA256_LEN], cs_fetch_stats *stats, cs_error *err);
