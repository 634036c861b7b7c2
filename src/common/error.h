/* Error reporting shared by every module.
 *
 * A fallible function returns 0 on success or a negative errno-style code and
 * fills a cs_error with a message that names the object and the reason. The
 * outermost caller prints the message; inner functions never log and return
 * the same error. */
#pragma once

#include <errno.h>
#include <stddef.h>

/* Codes outside the errno range that callers map to distinct exit statuses. */
enum {
    /* Signature, digest or package structure does not match what was signed. */
    CS_EVERIFY = 10001,
    /* Signature is valid but the signer is not trusted. */
    CS_EUNTRUSTED = 10002,
};

typedef struct cs_error {
    int code; /* positive code, 0 when no error is set */
    char message[2048];
} cs_error;

/* Store a formatted message and code in err (which may be NULL).
 * Returns -code so that callers can write `return cs_error_set(...)`. */
int cs_error_set(cs_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same as cs_error_set, with ": <strerror(errnum)>" appended. */
int cs_error_errno(cs_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "<context>: " to the message already in err and return -err->code. */
int cs_error_prefix(cs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append the first queued OpenSSL error reason (if any) to err and clear the
 * OpenSSL error queue. Returns -err->code. */
int cs_error_openssl(cs_error *err, int code, const char *what);

void cs_error_clear(cs_error *err);
