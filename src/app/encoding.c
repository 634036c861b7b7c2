/* Natives behind TextEncoder and TextDecoder (UTF-8 only). */
#include "app/jsutil.h"
#include "app/natives.h"
#include "app/utf16.h"
#include "common/cleanup.h"

#include <stdlib.h>

/* encodeUtf8(string): the UTF-8 bytes of string in a new Uint8Array. */
static JSValueRef native_encode(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    if (argc < 1 || !JSValueIsString(ctx, argv[0]))
        return cs_app_js_throw(ctx, exception, "TypeError", NULL, "encodeUtf8(string)");
    size_t len;
    cs_autofree char *bytes = cs_app_js_to_utf8(ctx, argv[0], &len, exception);
    if (!bytes)
        return *exception ? JSValueMakeUndefined(ctx)
                          : cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
    return cs_app_js_uint8array(ctx, bytes, len, exception);
}

/* decodeUtf8(bytes, fatal): the text of an ArrayBuffer or typed array.
 * Invalid sequences become U+FFFD, or with fatal throw a TypeError. A byte
 * order mark is kept: TextDecoder removes it. */
static JSValueRef native_decode(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    const uint8_t *bytes;
    size_t len;
    if (argc < 2 || !cs_app_js_bytes(ctx, argv[0], &bytes, &len))
        return cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_TYPE",
                               "the input must be an ArrayBuffer, a typed array or a DataView");
    cs_autofree uint16_t *units = malloc((len ? len : 1) * sizeof(uint16_t));
    if (!units)
        return cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
    bool invalid = false;
    size_t n = cs_app_utf8_to_utf16(bytes, len, units, &invalid);
    if (invalid && JSValueToBoolean(ctx, argv[1]))
        return cs_app_js_throw(ctx, exception, "TypeError", "ERR_ENCODING_INVALID_ENCODED_DATA",
                               "The encoded data was not valid for encoding utf-8");
    JSStringRef text = JSStringCreateWithCharacters(units, n);
    JSValueRef value = JSValueMakeString(ctx, text);
    JSStringRelease(text);
    return value;
}

void cs_app_encoding_install(cs_app_host *host, JSObjectRef natives)
{
    cs_app_js_set_function(host->ctx, natives, "encodeUtf8", native_encode);
    cs_app_js_set_function(host->ctx, natives, "decodeUtf8", native_decode);
}
