#include "app/host.h"

#include "app/bootstrap.h"
#include "app/jsutil.h"
#include "app/natives.h"
#include "app/report.h"
#include "common/cleanup.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exported by libjavascriptcoregtk-4.1 (WebKitGTK 2.50) but declared only in
 * WebKit's private header JSContextRefPrivate.h, which Debian does not
 * install. JavaScriptCore calls function(promise, reason) for each rejected
 * promise that has no handler once the microtask queue is empty. */
JS_EXPORT void JSGlobalContextSetUnhandledRejectionCallback(JSGlobalContextRef ctx,
                                                            JSObjectRef function,
                                                            JSValueRef *exception);

/* sourceURL of the bootstrap script in stack traces. */
#define BOOTSTRAP_URL "cashstory:bootstrap.js"

int cs_app_host_init(cs_app_host *host, const cs_app_options *options, cs_error *err)
{
    memset(host, 0, sizeof(*host));
    host->options = options;
    host->log_fd = -1;
    host->package.dir_fd = -1;
    host->bus.fd = -1;

    int rc = cs_app_package_open(&host->package, options->app_dir,
                                 options->dev ? NULL : options->index_sha256, err);
    if (rc < 0)
        return rc;
    rc = cs_app_fs_policy_init(&host->fs_policy, options->data_dir, options->grants,
                               options->ngrants, err);
    if (rc < 0)
        return rc;
    if (options->log_file) {
        host->log_fd =
            open(options->log_file,
                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (host->log_fd < 0)
            return cs_error_errno(err, errno, "cannot open the log file %s", options->log_file);
    }
    rc = uv_loop_init(&host->loop);
    if (rc < 0)
        return cs_error_set(err, -rc, "cannot start the event loop: %s", uv_strerror(rc));
    host->loop_ready = true;
    return cs_app_bus_init(&host->bus, &host->loop, options->bus_fd, err);
}

cs_app_host *cs_app_host_from(JSContextRef ctx)
{
    return JSObjectGetPrivate(JSContextGetGlobalObject(ctx));
}

_Noreturn void cs_app_host_exit(cs_app_host *host, int status)
{
    fflush(stdout);
    fflush(stderr);
    /* The last line of the log is often the reason the app ended. */
    if (host->log_fd >= 0)
        fsync(host->log_fd);
    exit(status);
}

static JSValueRef on_unhandled_rejection(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                         size_t argc, const JSValueRef argv[],
                                         JSValueRef *exception)
{
    (void)function;
    (void)self;
    (void)exception;
    JSValueRef reason = argc > 1 ? argv[1] : JSValueMakeUndefined(ctx);
    cs_app_report_exception(cs_app_host_from(ctx), "unhandled promise rejection", reason);
}

static int create_context(cs_app_host *host)
{
    JSClassDefinition definition = kJSClassDefinitionEmpty;
    definition.className = "CashStoryGlobal";
    host->global_class = JSClassCreate(&definition);
    host->ctx = JSGlobalContextCreate(host->global_class);
    if (!host->ctx)
        return -ENOMEM;
    JSObjectSetPrivate(JSContextGetGlobalObject(host->ctx), host);

    JSObjectRef callback =
        JSObjectMakeFunctionWithCallback(host->ctx, NULL, on_unhandled_rejection);
    JSValueRef exception = NULL;
    JSGlobalContextSetUnhandledRejectionCallback(host->ctx, callback, &exception);
    return exception ? -EINVAL : 0;
}

/* Evaluate bootstrap.js and call the function it evaluates to with the
 * natives. It returns {runMain, process}. */
static JSObjectRef run_bootstrap(cs_app_host *host)
{
    JSContextRef ctx = host->ctx;
    JSStringRef source = cs_app_jsstring_from_utf8(cs_app_bootstrap_js, cs_app_bootstrap_js_len);
    if (!source) {
        fprintf(stderr, "cashstory-app: out of memory\n");
        cs_app_host_exit(host, CS_APP_EXIT_ERROR);
    }
    JSStringRef url = JSStringCreateWithUTF8CString(BOOTSTRAP_URL);
    JSValueRef exception = NULL;
    JSValueRef fn = JSEvaluateScript(ctx, source, NULL, url, 1, &exception);
    JSStringRelease(source);
    JSStringRelease(url);

    JSValueRef result = NULL;
    if (!exception && fn && JSValueIsObject(ctx, fn)) {
        JSValueRef args[] = {cs_app_natives_create(host)};
        result = JSObjectCallAsFunction(ctx, (JSObjectRef)fn, NULL, 1, args, &exception);
    }
    if (exception)
        cs_app_report_exception(host, "internal error in the app host's bootstrap", exception);
    if (!result || !JSValueIsObject(ctx, result)) {
        fprintf(stderr, "cashstory-app: internal error: the bootstrap script returned no object\n");
        cs_app_host_exit(host, CS_APP_EXIT_ERROR);
    }
    return (JSObjectRef)result;
}

/* process.exitCode when the app set it to a number, else 0. */
static int final_status(cs_app_host *host)
{
    JSValueRef code = cs_app_js_get(host->ctx, host->process, "exitCode");
    if (!code || !JSValueIsNumber(host->ctx, code))
        return CS_APP_EXIT_OK;
    return JSValueToInt32(host->ctx, code, NULL) & 0xff;
}

int cs_app_host_run(cs_app_host *host)
{
    if (create_context(host) < 0) {
        fprintf(stderr, "cashstory-app: cannot create the JavaScript context\n");
        return CS_APP_EXIT_ERROR;
    }
    if (host->options->dev)
        fprintf(stderr,
                "cashstory-app: warning: developer mode: %s is not verified against a "
                "signed package index\n",
                host->options->app_dir);

    JSObjectRef boot = run_bootstrap(host);
    host->process = (JSObjectRef)cs_app_js_get(host->ctx, boot, "process");
    JSValueProtect(host->ctx, host->process);
    JSValueRef run_main = cs_app_js_get(host->ctx, boot, "runMain");

    /* JavaScriptCore runs the microtasks that the main script queued when
     * this outermost call returns. Each later callback from the loop drains
     * them the same way. */
    JSValueRef exception = NULL;
    JSObjectCallAsFunction(host->ctx, (JSObjectRef)run_main, NULL, 0, NULL, &exception);
    if (exception)
        cs_app_report_exception(host, "uncaught exception", exception);

    uv_run(&host->loop, UV_RUN_DEFAULT);
    return final_status(host);
}

static void close_handle(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

void cs_app_host_free(cs_app_host *host)
{
    cs_app_bus_stop(&host->bus);
    if (host->loop_ready) {
        /* The loop ends only when no handle is active, so this closes
         * nothing in a normal run but the bus socket, which the app may
         * have left unreferenced. */
        uv_walk(&host->loop, close_handle, NULL);
        uv_run(&host->loop, UV_RUN_DEFAULT);
        uv_loop_close(&host->loop);
    }
    cs_app_bus_free(&host->bus, host->ctx);
    if (host->ctx) {
        if (host->process)
            JSValueUnprotect(host->ctx, host->process);
        JSGlobalContextRelease(host->ctx);
    }
    if (host->global_class)
        JSClassRelease(host->global_class);
    cs_app_timers_free(&host->timers);
    cs_app_fs_policy_free(&host->fs_policy);
    cs_app_package_free(&host->package);
    if (host->log_fd >= 0)
        close(host->log_fd);
    host->log_fd = -1;
}
