#include "app/vpath.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cs_app_path_normalize(const char *base, const char *path, bool clamp, char **out)
{
    size_t blen = strlen(base), plen = strlen(path);
    cs_autofree char *joined = malloc(blen + plen + 2);
    cs_autofree char *result = malloc(blen + plen + 2);
    if (!joined || !result)
        return -ENOMEM;
    memcpy(joined, base, blen);
    joined[blen] = '/';
    memcpy(joined + blen + 1, path, plen + 1);

    /* result contains the components kept so far, separated by '/'. */
    size_t used = 0;
    char *save = NULL;
    for (char *part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0)
            continue;
        if (strcmp(part, "..") == 0) {
            if (used == 0) {
                if (clamp)
                    continue;
                return -EACCES;
            }
            char *slash = memrchr(result, '/', used);
            used = slash ? (size_t)(slash - result) : 0;
            continue;
        }
        if (used > 0)
            result[used++] = '/';
        size_t n = strlen(part);
        memcpy(result + used, part, n);
        used += n;
    }
    result[used] = '\0';
    *out = cs_steal(&result);
    return 0;
}

char *cs_app_vpath_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path)) : strdup("");
}

char *cs_app_vpath_to_public(const char *path)
{
    size_t n = strlen(path);
    char *out = malloc(sizeof(CS_APP_VROOT) + 1 + n);
    if (!out)
        return NULL;
    memcpy(out, CS_APP_VROOT, sizeof(CS_APP_VROOT) - 1);
    if (n == 0) {
        out[sizeof(CS_APP_VROOT) - 1] = '\0';
        return out;
    }
    out[sizeof(CS_APP_VROOT) - 1] = '/';
    memcpy(out + sizeof(CS_APP_VROOT), path, n + 1);
    return out;
}

char *cs_app_vpath_from_public(const char *public_path)
{
    size_t root = sizeof(CS_APP_VROOT) - 1;
    if (strncmp(public_path, CS_APP_VROOT, root) != 0)
        return NULL;
    if (public_path[root] == '\0')
        return strdup("");
    if (public_path[root] != '/')
        return NULL;
    const char *rest = public_path + root + 1;
    cs_autofree char *normalized = NULL;
    if (cs_app_path_normalize("", rest, false, &normalized) < 0)
        return NULL;
    /* Only canonical paths are accepted, so that one file has one name. */
    if (strcmp(normalized, rest) != 0)
        return NULL;
    return cs_steal(&normalized);
}
