#include "app/jsutil.h"

#include "app/utf16.h"
#include "common/cleanup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void jsstring_releasep(JSStringRef *s)
{
    if (*s)
        JSStringRelease(*s);
}
#define cs_autojsstring cs_cleanup(jsstring_releasep)

JSStringRef cs_app_jsstring_from_utf8(const char *utf8, size_t len)
{
    /* UTF-8 never needs more code units than bytes. */
    cs_autofree uint16_t *units = malloc((len ? len : 1) * sizeof(uint16_t));
    if (!units)
        return NULL;
    size_t n = cs_app_utf8_to_utf16((const uint8_t *)utf8, len, units, NULL);
    return JSStringCreateWithCharacters(units, n);
}

JSValueRef cs_app_js_string_n(JSContextRef ctx, const char *utf8, size_t len)
{
    cs_autojsstring JSStringRef s = cs_app_jsstring_from_utf8(utf8, len);
    if (!s)
        return JSValueMakeUndefined(ctx);
    return JSValueMakeString(ctx, s);
}

JSValueRef cs_app_js_string(JSContextRef ctx, const char *utf8)
{
    return cs_app_js_string_n(ctx, utf8, strlen(utf8));
}

char *cs_app_jsstring_to_utf8(JSStringRef string, size_t *len)
{
    size_t n = JSStringGetLength(string);
    char *out = malloc(CS_APP_UTF8_MAX_FOR_UTF16(n) + 1);
    if (!out)
        return NULL;
    size_t used = cs_app_utf16_to_utf8(JSStringGetCharactersPtr(string), n, (uint8_t *)out);
    out[used] = '\0';
    if (len)
        *len = used;
    return out;
}

char *cs_app_js_to_utf8(JSContextRef ctx, JSValueRef value, size_t *len, JSValueRef *exception)
{
    JSValueRef thrown = NULL;
    cs_autojsstring JSStringRef s = JSValueToStringCopy(ctx, value, &thrown);
    if (thrown || !s) {
        if (exception)
            *exception = thrown;
        return NULL;
    }
    return cs_app_jsstring_to_utf8(s, len);
}

JSValueRef cs_app_js_get(JSContextRef ctx, JSObjectRef object, const char *name)
{
    cs_autojsstring JSStringRef key = JSStringCreateWithUTF8CString(name);
    return JSObjectGetProperty(ctx, object, key, NULL);
}

void cs_app_js_set(JSContextRef ctx, JSObjectRef object, const char *name, JSValueRef value)
{
    cs_autojsstring JSStringRef key = JSStringCreateWithUTF8CString(name);
    JSObjectSetProperty(ctx, object, key, value, kJSPropertyAttributeNone, NULL);
}

void cs_app_js_set_function(JSContextRef ctx, JSObjectRef object, const char *name,
                            JSObjectCallAsFunctionCallback callback)
{
    cs_autojsstring JSStringRef key = JSStringCreateWithUTF8CString(name);
    JSObjectRef fn = JSObjectMakeFunctionWithCallback(ctx, key, callback);
    JSObjectSetProperty(ctx, object, key, fn, kJSPropertyAttributeDontEnum, NULL);
}

static JSObjectRef make_error(JSContextRef ctx, const char *type, const char *code, const char *fmt,
                              va_list ap) __attribute__((format(printf, 4, 0)));

static JSObjectRef make_error(JSContextRef ctx, const char *type, const char *code, const char *fmt,
                              va_list ap)
{
    char message[2048];
    vsnprintf(message, sizeof(message), fmt, ap);
    JSValueRef args[] = {cs_app_js_string(ctx, message)};

    JSObjectRef error = NULL;
    JSValueRef ctor = cs_app_js_get(ctx, JSContextGetGlobalObject(ctx), type);
    if (ctor && JSValueIsObject(ctx, ctor) && JSObjectIsConstructor(ctx, (JSObjectRef)ctor))
        error = JSObjectCallAsConstructor(ctx, (JSObjectRef)ctor, 1, args, NULL);
    if (!error)
        error = JSObjectMakeError(ctx, 1, args, NULL);
    if (code)
        cs_app_js_set(ctx, error, "code", cs_app_js_string(ctx, code));
    return error;
}

JSObjectRef cs_app_js_error(JSContextRef ctx, const char *type, const char *code, const char *fmt,
                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    JSObjectRef error = make_error(ctx, type, code, fmt, ap);
    va_end(ap);
    return error;
}

JSValueRef cs_app_js_throw(JSContextRef ctx, JSValueRef *exception, const char *type,
                           const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *exception = make_error(ctx, type, code, fmt, ap);
    va_end(ap);
    return JSValueMakeUndefined(ctx);
}

JSObjectRef cs_app_js_uint8array(JSContextRef ctx, const void *bytes, size_t len,
                                 JSValueRef *exception)
{
    JSObjectRef array = JSObjectMakeTypedArray(ctx, kJSTypedArrayTypeUint8Array, len, exception);
    if (!array || len == 0)
        return array;
    void *data = JSObjectGetTypedArrayBytesPtr(ctx, array, exception);
    if (data)
        memcpy(data, bytes, len);
    return array;
}

bool cs_app_js_bytes(JSContextRef ctx, JSValueRef value, const uint8_t **bytes, size_t *len)
{
    JSTypedArrayType type = JSValueGetTypedArrayType(ctx, value, NULL);
    if (type == kJSTypedArrayTypeNone || !JSValueIsObject(ctx, value))
        return false;
    JSObjectRef object = (JSObjectRef)value;
    if (type == kJSTypedArrayTypeArrayBuffer) {
        *bytes = JSObjectGetArrayBufferBytesPtr(ctx, object, NULL);
        *len = JSObjectGetArrayBufferByteLength(ctx, object, NULL);
    } else {
        /* JavaScriptCore 2.50 returns the start of the whole buffer, not
         * of the view, so the view's byte offset is added here. */
        const uint8_t *base = JSObjectGetTypedArrayBytesPtr(ctx, object, NULL);
        *bytes = base ? base + JSObjectGetTypedArrayByteOffset(ctx, object, NULL) : NULL;
        *len = JSObjectGetTypedArrayByteLength(ctx, object, NULL);
    }
    if (!*bytes)
        *len = 0;
    return true;
}
