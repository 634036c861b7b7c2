#include "app/console.h"

#include "app/jsutil.h"
#include "app/natives.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void cs_app_console_log(cs_app_host *host, const char *level, const char *message, size_t len)
{
    if (host->log_fd < 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char stamp[40];
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", now.tv_nsec / 1000000);

    /* Messages are valid UTF-8 (cs_app_jsstring_to_utf8 replaces lone
     * surrogates), which Jansson requires. */
    cs_autojson json_t *line =
        json_pack("{s:s, s:s, s:s%}", "time", stamp, "level", level, "message", message, len);
    if (!line)
        return;
    cs_autofree char *text = json_dumps(line, JSON_COMPACT);
    if (!text)
        return;
    size_t tlen = strlen(text);
    text[tlen] = '\n';
    /* One write per line keeps lines whole when several writers append. */
    (void)cs_write_all(host->log_fd, text, tlen + 1);
}

/* write(level, text): print one console line. */
static JSValueRef console_write(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    cs_app_host *host = cs_app_host_from(ctx);
    if (argc < 2)
        return cs_app_js_throw(ctx, exception, "TypeError", NULL, "write(level, text)");
    cs_autofree char *level = cs_app_js_to_utf8(ctx, argv[0], NULL, exception);
    size_t len = 0;
    cs_autofree char *text = cs_app_js_to_utf8(ctx, argv[1], &len, exception);
    if (!level || !text)
        return JSValueMakeUndefined(ctx);

    bool to_stderr = strcmp(level, "warn") == 0 || strcmp(level, "error") == 0;
    FILE *out = to_stderr ? stderr : stdout;
    fwrite(text, 1, len, out);
    fputc('\n', out);
    fflush(out);
    cs_app_console_log(host, level, text, len);
    return JSValueMakeUndefined(ctx);
}

void cs_app_console_install(cs_app_host *host, JSObjectRef natives)
{
    cs_app_js_set_function(host->ctx, natives, "write", console_write);
}
