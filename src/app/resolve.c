#include "app/resolve.h"

#include "app/exports.h"
#include "app/vpath.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PACKAGE_JSON_MAX (1024 * 1024)

typedef struct resolver {
    const cs_app_package *pkg;
    const char *request;
    const char *from; /* public path of the requiring module, for messages */
    cs_error *err;
} resolver;

/* Built-in modules of Node 20 (require('module').builtinModules). */
static const char *const node_builtins[] = {
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "inspector/promises",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "path/win32",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "readline/promises",
    "repl",
    "stream",
    "stream/consumers",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
    NULL,
};

static bool is_node_builtin(const char *request)
{
    for (const char *const *b = node_builtins; *b; b++)
        if (strcmp(request, *b) == 0)
            return true;
    return false;
}

static int builtin_error(resolver *r)
{
    const char *name = r->request;
    const char *bare = strncmp(name, "node:", 5) == 0 ? name + 5 : name;
    if (strcmp(bare, "fs") == 0 || strcmp(bare, "fs/promises") == 0)
        return cs_error_set(r->err, ENOENT, "module '%s' is not available; use cashstory.fs", name);
    return cs_error_set(r->err, ENOENT,
                        "module '%s' is not available: the CashStory app host does not provide "
                        "Node's built-in modules",
                        name);
}

static int not_found(resolver *r)
{
    return cs_error_set(r->err, ENOENT, "Cannot find module '%s' from %s", r->request, r->from);
}

static char *join(const char *dir, const char *name)
{
    char *out;
    if (dir[0] == '\0')
        return strdup(name);
    if (asprintf(&out, "%s/%s", dir, name) < 0)
        return NULL;
    return out;
}

/* Each try_* returns 1 with *out set when it found a file, 0 when not, and
 * a negative code on errors. */
static int try_file(resolver *r, const char *path, char **out)
{
    if (cs_app_package_lookup(r->pkg, path) != CS_APP_ENTRY_FILE)
        return 0;
    *out = strdup(path);
    return *out ? 1 : cs_error_set(r->err, ENOMEM, "out of memory");
}

static int try_extensions(resolver *r, const char *base, char **out)
{
    static const char *const suffixes[] = {"", ".js", ".json", NULL};
    if (base[0] == '\0')
        return 0;
    for (const char *const *s = suffixes; *s; s++) {
        cs_autofree char *path = NULL;
        if (asprintf(&path, "%s%s", base, *s) < 0)
            return cs_error_set(r->err, ENOMEM, "out of memory");
        int rc = try_file(r, path, out);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int try_index(resolver *r, const char *dir, char **out)
{
    static const char *const names[] = {"index.js", "index.json", NULL};
    for (const char *const *n = names; *n; n++) {
        cs_autofree char *path = join(dir, *n);
        if (!path)
            return cs_error_set(r->err, ENOMEM, "out of memory");
        int rc = try_file(r, path, out);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Read and parse dir/package.json. Returns 1 with *out, 0 when there is
 * none, or a negative code (verification failures included). */
static int read_package_json(resolver *r, const char *dir, json_t **out)
{
    cs_autofree char *path = join(dir, "package.json");
    if (!path)
        return cs_error_set(r->err, ENOMEM, "out of memory");
    if (cs_app_package_lookup(r->pkg, path) != CS_APP_ENTRY_FILE)
        return 0;
    cs_autofree uint8_t *data = NULL;
    size_t len;
    int rc = cs_app_package_read(r->pkg, path, &data, &len, r->err);
    if (rc < 0)
        return rc;
    if (len > PACKAGE_JSON_MAX)
        return cs_error_set(r->err, EINVAL, "%s is larger than %d bytes", path, PACKAGE_JSON_MAX);
    rc = cs_json_parse(data, len, path, out, r->err);
    if (rc < 0)
        return rc;
    if (!json_is_object(*out)) {
        json_decref(*out);
        return cs_error_set(r->err, EINVAL, "%s: the top level must be an object", path);
    }
    return 1;
}

static int try_folder(resolver *r, const char *dir, char **out)
{
    if (cs_app_package_lookup(r->pkg, dir) != CS_APP_ENTRY_FOLDER)
        return 0;
    cs_autojson json_t *manifest = NULL;
    int rc = read_package_json(r, dir, &manifest);
    if (rc < 0)
        return rc;
    json_t *main_field = manifest ? json_object_get(manifest, "main") : NULL;
    if (json_is_string(main_field) && json_string_length(main_field) > 0) {
        cs_autofree char *main_path = NULL;
        rc = cs_app_path_normalize(dir, json_string_value(main_field), false, &main_path);
        if (rc == -EACCES)
            return cs_error_set(r->err, EACCES, "%s/package.json: 'main' leaves the app folder",
                                dir);
        if (rc < 0)
            return cs_error_set(r->err, ENOMEM, "out of memory");
        rc = try_extensions(r, main_path, out);
        if (rc == 0)
            rc = try_index(r, main_path, out);
        if (rc != 0)
            return rc;
    }
    return try_index(r, dir, out);
}

static int try_path(resolver *r, const char *path, bool folder_only, char **out)
{
    int rc = folder_only ? 0 : try_extensions(r, path, out);
    if (rc == 0)
        rc = try_folder(r, path, out);
    return rc;
}

/* Resolve subpath through the "exports" of the package in pkg_dir. Returns
 * 1 with *out, or a negative code. A package with "exports" never falls
 * back to plain paths. */
static int try_exports(resolver *r, const char *pkg_dir, json_t *exports, const char *rest,
                       char **out)
{
    cs_autofree char *subpath = rest ? NULL : strdup(".");
    if (rest && asprintf(&subpath, "./%s", rest) < 0)
        subpath = NULL;
    if (!subpath)
        return cs_error_set(r->err, ENOMEM, "out of memory");
    cs_autofree char *target = NULL;
    int rc = cs_app_exports_resolve(exports, subpath, &target, r->err);
    if (rc < 0)
        return cs_error_prefix(r->err, "%s/package.json", pkg_dir);
    if (rc == 0)
        return cs_error_set(r->err, EPERM,
                            "Cannot find module '%s' from %s: the package in %s does not export "
                            "'%s'",
                            r->request, r->from, pkg_dir, subpath);

    cs_autofree char *path = NULL;
    rc = cs_app_path_normalize(pkg_dir, target, false, &path);
    size_t n = strlen(pkg_dir);
    if (rc == -EACCES || (rc == 0 && (strncmp(path, pkg_dir, n) != 0 || path[n] != '/')))
        return cs_error_set(r->err, EINVAL,
                            "%s/package.json: export target '%s' leaves the package folder",
                            pkg_dir, target);
    if (rc < 0)
        return cs_error_set(r->err, ENOMEM, "out of memory");
    rc = try_file(r, path, out);
    if (rc == 0)
        return cs_error_set(r->err, ENOENT,
                            "Cannot find module '%s' from %s: %s/package.json exports '%s' as "
                            "'%s', which is not a file of the app",
                            r->request, r->from, pkg_dir, subpath, target);
    return rc;
}

/* Look for the bare request in one node_modules folder. */
static int try_node_modules(resolver *r, const char *modules_dir, const char *name,
                            const char *rest, bool folder_only, char **out)
{
    cs_autofree char *pkg_dir = join(modules_dir, name);
    if (!pkg_dir)
        return cs_error_set(r->err, ENOMEM, "out of memory");
    cs_autojson json_t *manifest = NULL;
    int rc = 0;
    if (cs_app_package_lookup(r->pkg, pkg_dir) == CS_APP_ENTRY_FOLDER)
        rc = read_package_json(r, pkg_dir, &manifest);
    if (rc < 0)
        return rc;
    json_t *exports = manifest ? json_object_get(manifest, "exports") : NULL;
    if (exports)
        return try_exports(r, pkg_dir, exports, rest, out);

    cs_autofree char *path = join(modules_dir, r->request);
    if (!path)
        return cs_error_set(r->err, ENOMEM, "out of memory");
    if (folder_only)
        path[strlen(path) - 1] = '\0';
    return try_path(r, path, folder_only, out);
}

/* Split a bare request into the package name ("x" or "@scope/x") and the
 * rest (NULL when there is none). Returns false for an invalid request. */
static bool split_bare(const char *request, char **name, const char **rest)
{
    const char *slash = strchr(request, '/');
    if (request[0] == '@') {
        if (!slash || slash == request + 1)
            return false;
        slash = strchr(slash + 1, '/');
    }
    *name = slash ? strndup(request, (size_t)(slash - request)) : strdup(request);
    *rest = slash && slash[1] ? slash + 1 : NULL;
    return *name != NULL;
}

static bool valid_bare(const char *request)
{
    /* No empty, '.' or '..' component: those would let a bare name walk
     * out of its node_modules folder. A single trailing '/' is allowed. */
    const char *p = request;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!end)
            break;
        p = end + 1;
    }
    return request[0] != '\0' && !strchr(request, '\\');
}

static int resolve_bare(resolver *r, const char *parent_dir, char **out)
{
    if (strncmp(r->request, "node:", 5) == 0)
        return builtin_error(r);
    if (!valid_bare(r->request))
        return cs_error_set(r->err, ENOENT, "Cannot find module '%s' from %s: invalid module name",
                            r->request, r->from);
    cs_autofree char *name = NULL;
    const char *rest;
    if (!split_bare(r->request, &name, &rest))
        return cs_error_set(r->err, ENOENT, "Cannot find module '%s' from %s: invalid module name",
                            r->request, r->from);
    bool folder_only = r->request[strlen(r->request) - 1] == '/';

    cs_autofree char *dir = strdup(parent_dir);
    if (!dir)
        return cs_error_set(r->err, ENOMEM, "out of memory");
    for (;;) {
        const char *base = strrchr(dir, '/');
        base = base ? base + 1 : dir;
        if (strcmp(base, "node_modules") != 0) {
            cs_autofree char *modules = join(dir, "node_modules");
            if (!modules)
                return cs_error_set(r->err, ENOMEM, "out of memory");
            int rc = try_node_modules(r, modules, name, rest, folder_only, out);
            if (rc != 0)
                return rc;
        }
        if (dir[0] == '\0')
            break;
        char *up = cs_app_vpath_dirname(dir);
        if (!up)
            return cs_error_set(r->err, ENOMEM, "out of memory");
        free(dir);
        dir = up;
    }
    /* Node loads its built-in module before any package of the same name.
     * Here the package in node_modules (a polyfill such as "events") wins. */
    if (is_node_builtin(r->request))
        return builtin_error(r);
    return not_found(r);
}

static bool ends_as_folder(const char *request)
{
    size_t n = strlen(request);
    return request[n - 1] == '/' || strcmp(request, ".") == 0 || strcmp(request, "..") == 0 ||
           (n >= 2 && strcmp(request + n - 2, "/.") == 0) ||
           (n >= 3 && strcmp(request + n - 3, "/..") == 0);
}

static int resolve_path(resolver *r, const char *parent_dir, char **out)
{
    const char *request = r->request;
    const char *base = parent_dir;
    if (request[0] == '/') {
        size_t root = sizeof(CS_APP_VROOT) - 1;
        if (strncmp(request, CS_APP_VROOT, root) != 0 ||
            (request[root] != '\0' && request[root] != '/'))
            return cs_error_set(r->err, EACCES,
                                "Cannot require '%s' from %s: absolute paths must be inside %s, "
                                "the app folder",
                                request, r->from, CS_APP_VROOT);
        base = "";
        request += root;
    }
    cs_autofree char *target = NULL;
    int rc = cs_app_path_normalize(base, request, false, &target);
    if (rc == -EACCES)
        return cs_error_set(r->err, EACCES,
                            "Cannot require '%s' from %s: the path leaves the app folder",
                            r->request, r->from);
    if (rc < 0)
        return cs_error_set(r->err, ENOMEM, "out of memory");
    rc = try_path(r, target, ends_as_folder(r->request), out);
    return rc == 0 ? not_found(r) : rc;
}

int cs_app_resolve(const cs_app_package *pkg, const char *request, const char *parent, char **out,
                   cs_error *err)
{
    *out = NULL;
    cs_autofree char *from = cs_app_vpath_to_public(parent ? parent : "");
    cs_autofree char *parent_dir = cs_app_vpath_dirname(parent ? parent : "");
    if (!from || !parent_dir)
        return cs_error_set(err, ENOMEM, "out of memory");
    resolver r = {.pkg = pkg, .request = request, .from = from, .err = err};
    if (request[0] == '\0')
        return cs_error_set(err, ENOENT, "Cannot find module '' from %s: the name is empty", from);

    bool is_path = request[0] == '/' || strcmp(request, ".") == 0 || strcmp(request, "..") == 0 ||
                   strncmp(request, "./", 2) == 0 || strncmp(request, "../", 3) == 0;
    return is_path ? resolve_path(&r, parent_dir, out) : resolve_bare(&r, parent_dir, out);
}

const char *cs_app_resolve_error_code(int code)
{
    switch (code) {
    case ENOENT:
        return "MODULE_NOT_FOUND";
    case EACCES:
        return "ERR_ACCESS_DENIED";
    case EINVAL:
        return "ERR_INVALID_PACKAGE_CONFIG";
    case EPERM:
        return "ERR_PACKAGE_PATH_NOT_EXPORTED";
    default:
        return "ERR_REQUIRE_FAILED";
    }
}
