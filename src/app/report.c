#include "app/report.h"

#include "app/console.h"
#include "app/jsutil.h"
#include "common/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text buffer. */
typedef struct text {
    char *data;
    size_t len, cap;
    bool failed;
} text;

static void append(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *data = realloc(t->data, cap);
        if (!data) {
            t->failed = true;
            return;
        }
        t->data = data;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void append_str(text *t, const char *s)
{
    append(t, s, strlen(s));
}

/* JavaScriptCore writes a frame as "function@file:line:column", with an
 * empty function name for top-level and anonymous code. Node's "    at
 * function (file:line:column)" is easier to read next to Node output. */
static void append_frame(text *t, const char *frame, size_t n)
{
    append_str(t, "\n    at ");
    const char *at = memchr(frame, '@', n);
    if (!at || at == frame) {
        const char *location = at ? at + 1 : frame;
        append(t, location, n - (size_t)(location - frame));
        return;
    }
    append(t, frame, (size_t)(at - frame));
    append_str(t, " (");
    append(t, at + 1, n - (size_t)(at - frame) - 1);
    append_str(t, ")");
}

static char *property_text(JSContextRef ctx, JSObjectRef object, const char *name)
{
    JSValueRef value = cs_app_js_get(ctx, object, name);
    if (!value || JSValueIsUndefined(ctx, value) || JSValueIsNull(ctx, value))
        return NULL;
    JSValueRef ignored = NULL;
    return cs_app_js_to_utf8(ctx, value, NULL, &ignored);
}

static char *value_text(JSContextRef ctx, JSValueRef value)
{
    JSValueRef thrown = NULL;
    char *s = cs_app_js_to_utf8(ctx, value, NULL, &thrown);
    if (s && strcmp(s, "[object Object]") == 0) {
        /* A plain object reads better as JSON, when it can be written so. */
        JSStringRef json = JSValueCreateJSONString(ctx, value, 0, &thrown);
        if (json) {
            free(s);
            s = cs_app_jsstring_to_utf8(json, NULL);
            JSStringRelease(json);
        }
    }
    return s ? s : strdup("(a value that cannot be converted to a string)");
}

/* The location of a SyntaxError and the frames of an error's stack. */
static void append_error_details(text *t, JSContextRef ctx, JSObjectRef object)
{
    /* A SyntaxError names the file and line it was found in, but its stack
     * only contains the frames that loaded the file. */
    cs_autofree char *url = property_text(ctx, object, "sourceURL");
    cs_autofree char *line = property_text(ctx, object, "line");
    cs_autofree char *name = property_text(ctx, object, "name");
    if (url && line && name && strcmp(name, "SyntaxError") == 0) {
        append_str(t, "\n    at ");
        append_str(t, url);
        append_str(t, ":");
        append_str(t, line);
    }

    cs_autofree char *stack = property_text(ctx, object, "stack");
    for (const char *p = stack; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0)
            append_frame(t, p, n);
        p += n + (end ? 1 : 0);
    }
}

char *cs_app_describe_exception(JSContextRef ctx, JSValueRef value)
{
    text t = {0};
    cs_autofree char *head = value_text(ctx, value);
    append_str(&t, head ? head : "(out of memory)");
    if (JSValueIsObject(ctx, value))
        append_error_details(&t, ctx, (JSObjectRef)value);
    if (t.failed) {
        free(t.data);
        return NULL;
    }
    return t.data;
}

static _Noreturn void report(cs_app_host *host, const char *what, const char *message)
{
    fflush(stdout);
    cs_autofree char *line = NULL;
    if (asprintf(&line, "%s: %s", what, message) < 0)
        line = NULL;
    fprintf(stderr, "cashstory-app: %s\n", line ? line : message);
    if (line)
        cs_app_console_log(host, "error", line, strlen(line));
    cs_app_host_exit(host, CS_APP_EXIT_ERROR);
}

_Noreturn void cs_app_report_exception(cs_app_host *host, const char *what, JSValueRef value)
{
    char *description = cs_app_describe_exception(host->ctx, value);
    report(host, what, description ? description : "(out of memory)");
}

_Noreturn void cs_app_report_fatal(cs_app_host *host, const cs_error *err)
{
    fflush(stdout);
    fprintf(stderr, "cashstory-app: %s\n", err->message);
    cs_app_console_log(host, "error", err->message, strlen(err->message));
    cs_app_host_exit(host, CS_APP_EXIT_ERROR);
}
