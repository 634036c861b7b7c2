/* Natives behind cashstory.fs: each checks the request against the fs
 * policy, then runs the operation on libuv's thread pool and settles a
 * promise with the result. */
#include "app/fs_ops.h"
#include "app/fs_policy.h"
#include "app/jsutil.h"
#include "app/natives.h"
#include "common/cleanup.h"

#include <stdlib.h>
#include <string.h>

typedef enum fs_op { FS_READ_FILE, FS_WRITE_FILE, FS_READDIR, FS_STAT, FS_MKDIR, FS_RM } fs_op;

static const struct {
    const char *name;
    bool writes;
} ops[] = {
    [FS_READ_FILE] = {"readFile", false}, [FS_WRITE_FILE] = {"writeFile", true},
    [FS_READDIR] = {"readdir", false},    [FS_STAT] = {"stat", false},
    [FS_MKDIR] = {"mkdir", true},         [FS_RM] = {"rm", true},
};

typedef struct fs_request {
    uv_work_t work;
    cs_app_host *host;
    fs_op op;
    cs_app_fs_target target;
    bool as_text;   /* readFile: return a string instead of a Uint8Array */
    bool recursive; /* mkdir, rm */
    bool force;     /* rm */
    uint8_t *data;  /* writeFile input, readFile output */
    size_t len;
    char **names; /* readdir output */
    size_t nnames;
    struct stat st; /* stat output */
    int rc;
    JSObjectRef resolve; /* protected */
    JSObjectRef reject;  /* protected */
} fs_request;

static void request_free(fs_request *req)
{
    cs_app_fs_target_free(&req->target);
    free(req->data);
    cs_app_fs_names_free(req->names, req->nnames);
    free(req);
}

static void run_request(uv_work_t *work)
{
    fs_request *req = work->data;
    int fd = req->target.root->dir_fd;
    const char *rel = req->target.relative;
    switch (req->op) {
    case FS_READ_FILE:
        req->rc = cs_app_fs_read_file(fd, rel, &req->data, &req->len);
        break;
    case FS_WRITE_FILE:
        req->rc = cs_app_fs_write_file(fd, rel, req->data, req->len);
        break;
    case FS_READDIR:
        req->rc = cs_app_fs_readdir(fd, rel, &req->names, &req->nnames);
        break;
    case FS_STAT:
        req->rc = cs_app_fs_stat(fd, rel, &req->st);
        break;
    case FS_MKDIR:
        req->rc = cs_app_fs_mkdir(fd, rel, req->recursive);
        break;
    case FS_RM:
        req->rc = cs_app_fs_rm(fd, rel, req->recursive, req->force);
        break;
    }
}

/* The Error for a failed operation: the message names the operation and
 * the path, and code is the errno name ("ENOENT"), as in Node. */
static JSObjectRef make_error(JSContextRef ctx, const fs_request *req)
{
    const char *op = ops[req->op].name;
    const char *path = req->target.absolute;
    int errnum = -req->rc;
    JSObjectRef error;
    if (errnum == ELOOP || errnum == EXDEV)
        error = cs_app_js_error(ctx, "Error", "EACCES",
                                "cashstory.fs.%s: permission denied for %s: the path goes through "
                                "a symbolic link, which cashstory.fs does not follow",
                                op, path);
    else if (req->op == FS_RM && errnum == EISDIR)
        error = cs_app_js_error(ctx, "Error", "EISDIR",
                                "cashstory.fs.rm: %s is a folder; pass {recursive: true} to remove "
                                "it and its content",
                                path);
    else if (req->op == FS_RM && errnum == EBUSY)
        error = cs_app_js_error(ctx, "Error", "EPERM",
                                "cashstory.fs.rm: %s is the data folder or a granted folder, "
                                "which cannot be removed",
                                path);
    else if (errnum == EINVAL)
        error = cs_app_js_error(ctx, "Error", "EINVAL", "cashstory.fs.%s: %s is not a regular file",
                                op, path);
    else {
        const char *name = strerrorname_np(errnum);
        error = cs_app_js_error(ctx, "Error", name ? name : "EIO", "cashstory.fs.%s: %s: %s", op,
                                path, strerror(errnum));
    }
    cs_app_js_set(ctx, error, "path", cs_app_js_string(ctx, path));
    cs_app_js_set(ctx, error, "syscall", cs_app_js_string(ctx, op));
    return error;
}

static JSValueRef stat_object(JSContextRef ctx, const struct stat *st)
{
    const char *type = S_ISREG(st->st_mode)   ? "file"
                       : S_ISDIR(st->st_mode) ? "directory"
                       : S_ISLNK(st->st_mode) ? "symlink"
                                              : "other";
    JSObjectRef object = JSObjectMake(ctx, NULL, NULL);
    cs_app_js_set(ctx, object, "type", cs_app_js_string(ctx, type));
    cs_app_js_set(ctx, object, "size", JSValueMakeNumber(ctx, (double)st->st_size));
    cs_app_js_set(ctx, object, "mode", JSValueMakeNumber(ctx, st->st_mode));
    double mtime = (double)st->st_mtim.tv_sec * 1e3 + (double)st->st_mtim.tv_nsec / 1e6;
    double atime = (double)st->st_atim.tv_sec * 1e3 + (double)st->st_atim.tv_nsec / 1e6;
    double ctime = (double)st->st_ctim.tv_sec * 1e3 + (double)st->st_ctim.tv_nsec / 1e6;
    cs_app_js_set(ctx, object, "mtimeMs", JSValueMakeNumber(ctx, mtime));
    cs_app_js_set(ctx, object, "atimeMs", JSValueMakeNumber(ctx, atime));
    cs_app_js_set(ctx, object, "ctimeMs", JSValueMakeNumber(ctx, ctime));
    return object;
}

static JSValueRef result_value(JSContextRef ctx, const fs_request *req, JSValueRef *exception)
{
    switch (req->op) {
    case FS_READ_FILE:
        if (req->as_text)
            return cs_app_js_string_n(ctx, (const char *)req->data, req->len);
        return cs_app_js_uint8array(ctx, req->data, req->len, exception);
    case FS_READDIR: {
        JSObjectRef array = JSObjectMakeArray(ctx, 0, NULL, exception);
        for (size_t i = 0; array && i < req->nnames; i++)
            JSObjectSetPropertyAtIndex(ctx, array, (unsigned)i,
                                       cs_app_js_string(ctx, req->names[i]), NULL);
        return array;
    }
    case FS_STAT:
        return stat_object(ctx, &req->st);
    default:
        return JSValueMakeUndefined(ctx);
    }
}

static void finish_request(uv_work_t *work, int status)
{
    (void)status;
    fs_request *req = work->data;
    JSContextRef ctx = req->host->ctx;
    JSValueRef exception = NULL;
    JSValueRef value = req->rc < 0 ? make_error(ctx, req) : result_value(ctx, req, &exception);
    JSObjectRef settle = req->rc < 0 ? req->reject : req->resolve;
    if (exception) {
        value = exception;
        settle = req->reject;
    }
    JSObjectCallAsFunction(ctx, settle, NULL, 1, &value, NULL);
    JSValueUnprotect(ctx, req->resolve);
    JSValueUnprotect(ctx, req->reject);
    request_free(req);
}

/* Check the path argument against the fs policy and make the request. On
 * failure throw, which the async wrappers in bootstrap.js turn into a
 * rejected promise. */
static fs_request *new_request(JSContextRef ctx, fs_op op, size_t argc, const JSValueRef argv[],
                               JSValueRef *exception)
{
    cs_app_host *host = cs_app_host_from(ctx);
    const char *name = ops[op].name;
    if (argc < 1 || !JSValueIsString(ctx, argv[0])) {
        cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_TYPE",
                        "cashstory.fs.%s: the path must be a string", name);
        return NULL;
    }
    size_t len;
    cs_autofree char *path = cs_app_js_to_utf8(ctx, argv[0], &len, exception);
    if (!path)
        return NULL;
    fs_request *req = calloc(1, sizeof(*req));
    if (!req) {
        cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
        return NULL;
    }
    cs_error err;
    int rc = cs_app_fs_policy_check(&host->fs_policy, name, path, len, ops[op].writes, &req->target,
                                    &err);
    if (rc < 0) {
        const char *code = "ENOMEM";
        if (rc == -EACCES)
            code = "EACCES";
        else if (rc == -EINVAL)
            code = "EINVAL";
        JSObjectRef error = cs_app_js_error(ctx, "Error", code, "%s", err.message);
        cs_app_js_set(ctx, error, "path", cs_app_js_string_n(ctx, path, len));
        *exception = error;
        free(req);
        return NULL;
    }
    req->host = host;
    req->op = op;
    req->work.data = req;
    return req;
}

/* Queue the request and return its promise. */
static JSValueRef start_request(JSContextRef ctx, fs_request *req, JSValueRef *exception)
{
    JSObjectRef promise = JSObjectMakeDeferredPromise(ctx, &req->resolve, &req->reject, exception);
    if (!promise) {
        request_free(req);
        return JSValueMakeUndefined(ctx);
    }
    JSValueProtect(ctx, req->resolve);
    JSValueProtect(ctx, req->reject);
    int rc = uv_queue_work(&req->host->loop, &req->work, run_request, finish_request);
    if (rc < 0) {
        JSValueUnprotect(ctx, req->resolve);
        JSValueUnprotect(ctx, req->reject);
        request_free(req);
        return cs_app_js_throw(ctx, exception, "Error", "EIO", "cannot queue the operation: %s",
                               uv_strerror(rc));
    }
    return promise;
}

static bool bool_arg(JSContextRef ctx, size_t argc, const JSValueRef argv[], size_t i)
{
    return argc > i && JSValueToBoolean(ctx, argv[i]);
}

/* readFile(path, asText) */
static JSValueRef native_read_file(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                   size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    fs_request *req = new_request(ctx, FS_READ_FILE, argc, argv, exception);
    if (!req)
        return JSValueMakeUndefined(ctx);
    req->as_text = bool_arg(ctx, argc, argv, 1);
    return start_request(ctx, req, exception);
}

/* writeFile(path, data): data is a string (written as UTF-8), an
 * ArrayBuffer or a typed array. */
static JSValueRef native_write_file(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                    size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    bool is_string = argc > 1 && JSValueIsString(ctx, argv[1]);
    if (argc < 2 || (!is_string && !cs_app_js_bytes(ctx, argv[1], &bytes, &len)))
        return cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_TYPE",
                               "cashstory.fs.writeFile: the data must be a string, an ArrayBuffer "
                               "or a typed array");
    fs_request *req = new_request(ctx, FS_WRITE_FILE, argc, argv, exception);
    if (!req)
        return JSValueMakeUndefined(ctx);
    if (is_string) {
        req->data = (uint8_t *)cs_app_js_to_utf8(ctx, argv[1], &req->len, exception);
    } else {
        /* Copy now: the bytes belong to JavaScript, and the write runs on
         * another thread. The pointer from cs_app_js_bytes is read again
         * because new_request called into JavaScriptCore. */
        cs_app_js_bytes(ctx, argv[1], &bytes, &len);
        req->data = malloc(len ? len : 1);
        if (req->data)
            memcpy(req->data, bytes, len);
        req->len = len;
    }
    if (!req->data) {
        request_free(req);
        return *exception ? JSValueMakeUndefined(ctx)
                          : cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
    }
    return start_request(ctx, req, exception);
}

static JSValueRef native_readdir(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                 size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    fs_request *req = new_request(ctx, FS_READDIR, argc, argv, exception);
    return req ? start_request(ctx, req, exception) : JSValueMakeUndefined(ctx);
}

static JSValueRef native_stat(JSContextRef ctx, JSObjectRef function, JSObjectRef self, size_t argc,
                              const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    fs_request *req = new_request(ctx, FS_STAT, argc, argv, exception);
    return req ? start_request(ctx, req, exception) : JSValueMakeUndefined(ctx);
}

/* mkdir(path, recursive) */
static JSValueRef native_mkdir(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                               size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    fs_request *req = new_request(ctx, FS_MKDIR, argc, argv, exception);
    if (!req)
        return JSValueMakeUndefined(ctx);
    req->recursive = bool_arg(ctx, argc, argv, 1);
    return start_request(ctx, req, exception);
}

/* rm(path, recursive, force) */
static JSValueRef native_rm(JSContextRef ctx, JSObjectRef function, JSObjectRef self, size_t argc,
                            const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    fs_request *req = new_request(ctx, FS_RM, argc, argv, exception);
    if (!req)
        return JSValueMakeUndefined(ctx);
    req->recursive = bool_arg(ctx, argc, argv, 1);
    req->force = bool_arg(ctx, argc, argv, 2);
    return start_request(ctx, req, exception);
}

void cs_app_fs_install(cs_app_host *host, JSObjectRef natives)
{
    JSContextRef ctx = host->ctx;
    cs_app_js_set_function(ctx, natives, "fsReadFile", native_read_file);
    cs_app_js_set_function(ctx, natives, "fsWriteFile", native_write_file);
    cs_app_js_set_function(ctx, natives, "fsReaddir", native_readdir);
    cs_app_js_set_function(ctx, natives, "fsStat", native_stat);
    cs_app_js_set_function(ctx, natives, "fsMkdir", native_mkdir);
    cs_app_js_set_function(ctx, natives, "fsRm", native_rm);
}
