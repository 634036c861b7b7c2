#include "common/path.h"

#include "common/utf8.h"

#include <stdint.h>
#include <string.h>

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
        size_t n = cs_utf8_sequence_length(p + i, len - i);
        if (n == 0)
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
