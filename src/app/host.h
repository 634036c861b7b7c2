/* The app host: one JavaScriptCore context driven by one libuv loop.
 *
 * Native functions find the host through the private data of the global
 * object (cs_app_host_from). Every JavaScript value that C code keeps
 * between calls is protected with JSValueProtect. */
#pragma once

#include "app/bus.h"
#include "app/fs_policy.h"
#include "app/options.h"
#include "app/package.h"
#include "app/timers.h"
#include "common/error.h"

#include <JavaScriptCore/JavaScript.h>
#include <stdbool.h>
#include <uv.h>

typedef struct cs_app_host {
    const cs_app_options *options;
    cs_app_package package;
    cs_app_fs_policy fs_policy;
    int log_fd; /* --log file, or -1 */
    uv_loop_t loop;
    bool loop_ready;
    JSClassRef global_class;
    JSGlobalContextRef ctx;
    JSObjectRef process; /* the app's process object, protected */
    cs_app_timers timers;
    cs_app_bus bus; /* --bus-fd */
} cs_app_host;

/* Open the app folder (checking the index digest in verified mode), the
 * data folder, the granted paths, the log file and the bus socket. */
int cs_app_host_init(cs_app_host *host, const cs_app_options *options, cs_error *err);

/* Run the app's main script and then the event loop until it has nothing
 * left to do. Returns the exit status. An uncaught error or a failed
 * verification ends the process from inside (cs_app_host_exit). */
int cs_app_host_run(cs_app_host *host);

void cs_app_host_free(cs_app_host *host);

/* The host that owns the context of a native call. */
cs_app_host *cs_app_host_from(JSContextRef ctx);

/* Flush stdout, stderr and the --log file and end the process with status.
 * Used when JavaScript is still on the stack (process.exit, an uncaught
 * error), where the context cannot be released. */
_Noreturn void cs_app_host_exit(cs_app_host *host, int status);
