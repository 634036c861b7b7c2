#include "app/timers.h"

#include "app/host.h"
#include "app/jsutil.h"
#include "app/natives.h"
#include "app/report.h"
#include "common/cleanup.h"

#include <stdlib.h>

/* Maximum delay in milliseconds. Longer or invalid delays become 1 ms, as
 * in Node. */
#define MAX_DELAY_MS 2147483647.0

struct cs_app_timer {
    uv_timer_t handle;
    cs_app_host *host;
    uint32_t id;
    bool repeat;
    bool cleared;         /* removed from the table and closing */
    JSObjectRef callback; /* protected */
    JSObjectRef args;     /* protected array of the extra arguments */
    cs_app_timer *next;   /* next in the same bucket */
};

static cs_app_timer **bucket_of(cs_app_timers *timers, uint32_t id)
{
    return &timers->buckets[id & (timers->nbuckets - 1)];
}

static cs_app_timer *find(cs_app_timers *timers, uint32_t id)
{
    if (timers->nbuckets == 0)
        return NULL;
    for (cs_app_timer *t = *bucket_of(timers, id); t; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

static int grow(cs_app_timers *timers)
{
    size_t n = timers->nbuckets ? timers->nbuckets * 2 : 16;
    cs_app_timer **buckets = calloc(n, sizeof(*buckets));
    if (!buckets)
        return -ENOMEM;
    for (size_t i = 0; i < timers->nbuckets; i++) {
        cs_app_timer *t = timers->buckets[i];
        while (t) {
            cs_app_timer *next = t->next;
            t->next = buckets[t->id & (n - 1)];
            buckets[t->id & (n - 1)] = t;
            t = next;
        }
    }
    free(timers->buckets);
    timers->buckets = buckets;
    timers->nbuckets = n;
    return 0;
}

static int insert(cs_app_timers *timers, cs_app_timer *timer)
{
    if (timers->count >= timers->nbuckets && grow(timers) < 0)
        return -ENOMEM;
    /* Ids count up from 1 and skip 0 and ids still in use after a wrap. */
    do {
        timers->last_id++;
    } while (timers->last_id == 0 || find(timers, timers->last_id));
    timer->id = timers->last_id;
    cs_app_timer **bucket = bucket_of(timers, timer->id);
    timer->next = *bucket;
    *bucket = timer;
    timers->count++;
    return 0;
}

static void unlink_timer(cs_app_timers *timers, cs_app_timer *timer)
{
    for (cs_app_timer **p = bucket_of(timers, timer->id); *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = timer->next;
            timers->count--;
            return;
        }
    }
}

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

/* Remove the timer from the table, release its values and close it. The
 * memory stays valid until the loop calls on_closed, after the current
 * callback returns. */
static void discard(cs_app_timer *timer)
{
    if (timer->cleared)
        return;
    timer->cleared = true;
    unlink_timer(&timer->host->timers, timer);
    JSValueUnprotect(timer->host->ctx, timer->callback);
    JSValueUnprotect(timer->host->ctx, timer->args);
    uv_close((uv_handle_t *)&timer->handle, on_closed);
}

static void on_timer(uv_timer_t *handle)
{
    cs_app_timer *timer = handle->data;
    JSContextRef ctx = timer->host->ctx;

    JSValueRef length = cs_app_js_get(ctx, timer->args, "length");
    size_t argc = (size_t)JSValueToNumber(ctx, length, NULL);
    cs_autofree JSValueRef *argv = calloc(argc ? argc : 1, sizeof(*argv));
    if (!argv)
        argc = 0;
    for (size_t i = 0; i < argc; i++)
        argv[i] = JSObjectGetPropertyAtIndex(ctx, timer->args, (unsigned)i, NULL);

    /* A timeout leaves the table before its callback runs, so that
     * clearTimeout() inside the callback does nothing. The callback and its
     * arguments stay alive while they are on the stack: JavaScriptCore scans
     * the C stack for values. */
    JSObjectRef callback = timer->callback;
    cs_app_host *host = timer->host;
    if (!timer->repeat)
        discard(timer);

    JSValueRef exception = NULL;
    JSObjectCallAsFunction(ctx, callback, NULL, argc, argv, &exception);
    if (exception)
        cs_app_report_exception(host, "uncaught exception", exception);
}

/* setTimer(callback, delay, repeat, args): start a timer that calls
 * callback(...args) and return its id. */
static JSValueRef native_set_timer(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                   size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    cs_app_host *host = cs_app_host_from(ctx);
    if (argc < 4 || !JSValueIsObject(ctx, argv[0]) ||
        !JSObjectIsFunction(ctx, (JSObjectRef)argv[0]) || !JSValueIsObject(ctx, argv[3]))
        return cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_TYPE",
                               "the timer callback must be a function");
    double delay = JSValueToNumber(ctx, argv[1], exception);
    if (*exception)
        return JSValueMakeUndefined(ctx);
    if (!(delay >= 1 && delay <= MAX_DELAY_MS))
        delay = 1;

    cs_app_timer *timer = calloc(1, sizeof(*timer));
    if (!timer || insert(&host->timers, timer) < 0) {
        free(timer);
        return cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
    }
    timer->host = host;
    timer->repeat = JSValueToBoolean(ctx, argv[2]);
    timer->callback = (JSObjectRef)argv[0];
    timer->args = (JSObjectRef)argv[3];
    JSValueProtect(ctx, timer->callback);
    JSValueProtect(ctx, timer->args);
    uv_timer_init(&host->loop, &timer->handle);
    timer->handle.data = timer;

    /* Count the delay from now, not from the start of this loop turn. */
    uv_update_time(&host->loop);
    uint64_t ms = (uint64_t)delay; /* delay >= 1, so this rounds down */
    uv_timer_start(&timer->handle, on_timer, ms, timer->repeat ? ms : 0);
    return JSValueMakeNumber(ctx, timer->id);
}

/* clearTimer(id): stop a timer. Unknown ids are ignored, as in browsers. */
static JSValueRef native_clear_timer(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                     size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    (void)exception;
    cs_app_host *host = cs_app_host_from(ctx);
    if (argc < 1 || !JSValueIsNumber(ctx, argv[0]))
        return JSValueMakeUndefined(ctx);
    double id = JSValueToNumber(ctx, argv[0], NULL);
    if (!(id >= 1 && id <= UINT32_MAX))
        return JSValueMakeUndefined(ctx);
    cs_app_timer *timer = find(&host->timers, (uint32_t)id);
    if (timer)
        discard(timer);
    return JSValueMakeUndefined(ctx);
}

void cs_app_timers_install(cs_app_host *host, JSObjectRef natives)
{
    cs_app_js_set_function(host->ctx, natives, "setTimer", native_set_timer);
    cs_app_js_set_function(host->ctx, natives, "clearTimer", native_clear_timer);
}

void cs_app_timers_free(cs_app_timers *timers)
{
    free(timers->buckets);
    timers->buckets = NULL;
    timers->nbuckets = 0;
    timers->count = 0;
}
