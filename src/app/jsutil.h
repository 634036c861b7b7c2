/* Small helpers over the JavaScriptCore C API: strings, properties, errors
 * and byte buffers. */
#pragma once

#include <JavaScriptCore/JavaScript.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A JS string from len bytes of UTF-8; invalid sequences become U+FFFD.
 * The caller releases it. */
JSStringRef cs_app_jsstring_from_utf8(const char *utf8, size_t len);

/* JS string values from UTF-8 (NUL-terminated, or len bytes). */
JSValueRef cs_app_js_string(JSContextRef ctx, const char *utf8);
JSValueRef cs_app_js_string_n(JSContextRef ctx, const char *utf8, size_t len);

/* UTF-8 copy of a JS string in a new NUL-terminated buffer (lone surrogates
 * become U+FFFD). *len (may be NULL) receives the length without the NUL.
 * Returns NULL when out of memory. */
char *cs_app_jsstring_to_utf8(JSStringRef string, size_t *len);

/* ToString(value) as UTF-8 in a new buffer. Returns NULL with *exception
 * set when the conversion throws. */
char *cs_app_js_to_utf8(JSContextRef ctx, JSValueRef value, size_t *len, JSValueRef *exception);

JSValueRef cs_app_js_get(JSContextRef ctx, JSObjectRef object, const char *name);
void cs_app_js_set(JSContextRef ctx, JSObjectRef object, const char *name, JSValueRef value);
void cs_app_js_set_function(JSContextRef ctx, JSObjectRef object, const char *name,
                            JSObjectCallAsFunctionCallback callback);

/* A new error object made by the global constructor named type ("Error",
 * "TypeError", "RangeError"), with the formatted message and, when code is
 * not NULL, a "code" property. */
JSObjectRef cs_app_js_error(JSContextRef ctx, const char *type, const char *code, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));

/* For native functions: store a new error in *exception and return
 * undefined, so that the function throws it. */
JSValueRef cs_app_js_throw(JSContextRef ctx, JSValueRef *exception, const char *type,
                           const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A new Uint8Array holding a copy of len bytes. */
JSObjectRef cs_app_js_uint8array(JSContextRef ctx, const void *bytes, size_t len,
                                 JSValueRef *exception);

/* Pointer to and length of the bytes of an ArrayBuffer or typed array. The
 * pointer is valid until the next call into JavaScriptCore. Returns false
 * when value is neither. */
bool cs_app_js_bytes(JSContextRef ctx, JSValueRef value, const uint8_t **bytes, size_t *len);
