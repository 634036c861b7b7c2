#include "app/natives.h"

#include "app/jsutil.h"
#include "app/report.h"

/* exit(status): end the process now, as process.exit() does in Node. */
static JSValueRef native_exit(JSContextRef ctx, JSObjectRef function, JSObjectRef self, size_t argc,
                              const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    int status = argc > 0 ? JSValueToInt32(ctx, argv[0], exception) : 0;
    cs_app_host_exit(cs_app_host_from(ctx), status & 0xff);
}

/* reportUncaught(error): report an error that no code caught (thrown by a
 * queueMicrotask callback, for example) and exit with status 1. */
static JSValueRef native_report_uncaught(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                         size_t argc, const JSValueRef argv[],
                                         JSValueRef *exception)
{
    (void)function;
    (void)self;
    (void)exception;
    JSValueRef error = argc > 0 ? argv[0] : JSValueMakeUndefined(ctx);
    cs_app_report_exception(cs_app_host_from(ctx), "uncaught exception", error);
}

JSObjectRef cs_app_natives_create(cs_app_host *host)
{
    JSObjectRef natives = JSObjectMake(host->ctx, NULL, NULL);
    cs_app_js_set_function(host->ctx, natives, "exit", native_exit);
    cs_app_js_set_function(host->ctx, natives, "reportUncaught", native_report_uncaught);
    cs_app_console_install(host, natives);
    cs_app_modules_install(host, natives);
    cs_app_timers_install(host, natives);
    cs_app_encoding_install(host, natives);
    cs_app_fs_install(host, natives);
    cs_app_info_install(host, natives);
    cs_app_bus_install(host, natives);
    return natives;
}
