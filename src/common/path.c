#include "common/path.h"

#include <stdint.h>
#include <string.h>

/* Length of the UTF-8 sequence that starts at s, or 0 when it is invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence_length(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
        return 0;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int cs_path_check(const char *path, cs_error *err)
{
    size_t len = strnlen(path, CS_PATH_MAX + 1);
    if (len == 0)
        return cs_error_set(err, EINVAL, "empty path");
    if (len > CS_PATH_MAX)
        return cs_error_set(err, EINVAL, "path is longer than %d bytes", CS_PATH_MAX);
    if (path[0] == '/')
        return cs_error_set(err, EINVAL, "path '%s' is absolute", path);

    const unsigned char *p = (const unsigned char *)path;
    size_t component = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return cs_error_set(err, EINVAL, "path contains a control character");
        if (p[i] == '\\')
            return cs_error_set(err, EINVAL, "path '%s' contains a backslash", path);
        size_t n = utf8_sequence_length(p + i);
        if (n == 0 || i + n > len)
            return cs_error_set(err, EINVAL, "path is not valid UTF-8");
        if (p[i] == '/') {
            if (component == 0)
                return cs_error_set(err, EINVAL, "path '%s' has an empty component", path);
            component = 0;
        } else {
            component += n;
            if (component > CS_PATH_COMPONENT_MAX)
                return cs_error_set(err, EINVAL, "path '%s' has a component longer than %d bytes",
                                    path, CS_PATH_COMPONENT_MAX);
        }
        i += n;
    }
    if (component == 0)
        return cs_error_set(err, EINVAL, "path '%s' ends with '/'", path);

    /* Reject "." and ".." components. */
    const char *start = path;
    while (*start) {
        const char *end = strchr(start, '/');
        size_t clen = end ? (size_t)(end - start) : strlen(start);
        if ((clen == 1 && start[0] == '.') || (clen == 2 && start[0] == '.' && start[1] == '.'))
            return cs_error_set(err, EINVAL, "path '%s' contains a '%.*s' component", path,
                                (int)clen, start);
        start += clen;
        if (*start == '/')
            start++;
    }
    return 0;
}

bool cs_path_is_reserved(const char *path)
{
    return strcmp(path, ".cashstory") == 0 || strncmp(path, ".cashstory/", 11) == 0;
}
