#include "common/error.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int normalize(int code)
{
    if (code < 0)
        code = -code;
    return code == 0 ? EIO : code;
}

int cs_error_set(cs_error *err, int code, const char *fmt, ...)
{
    code = normalize(code);
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return -code;
}

int cs_error_errno(cs_error *err, int errnum, const char *fmt, ...)
{
    errnum = normalize(errnum);
    if (err) {
        char head[sizeof(err->message)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(head, sizeof(head), fmt, ap);
        va_end(ap);
        snprintf(err->message, sizeof(err->message), "%s: %s", head, strerror(errnum));
        err->code = errnum;
    }
    return -errnum;
}

int cs_error_prefix(cs_error *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    char head[sizeof(err->message)];
    char tail[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(tail, err->message, sizeof(tail));
    snprintf(err->message, sizeof(err->message), "%s: %s", head, tail);
    if (err->code == 0)
        err->code = EIO;
    return -err->code;
}

int cs_error_openssl(cs_error *err, int code, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    int rc;
    if (reason)
        rc = cs_error_set(err, code, "%s: %s", what, reason);
    else
        rc = cs_error_set(err, code, "%s", what);
    ERR_clear_error();
    return rc;
}

void cs_error_clear(cs_error *err)
{
    if (err) {
        err->code = 0;
        err->message[0] = '\0';
    }
}
