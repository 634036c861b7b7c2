/* Natives behind require(): resolution and verified loading of module
 * files. bootstrap.js keeps the module objects and require.cache. */
#include "app/jsutil.h"
#include "app/natives.h"
#include "app/report.h"
#include "app/resolve.h"
#include "app/utf16.h"
#include "app/vpath.h"
#include "common/cleanup.h"

#include <stdlib.h>
#include <string.h>

/* Every CommonJS module is evaluated as this function expression. The
 * prefix has no line break, so line numbers in stack traces match the file.
 * Columns on the first line are shifted by the prefix's length. */
static const char wrapper_prefix[] =
    "(function (exports, require, module, __filename, __dirname) { ";
static const char wrapper_suffix[] = "\n})";

/* Package path for a public path given by bootstrap.js, or NULL with a
 * TypeError in *exception. */
static char *package_path_arg(JSContextRef ctx, JSValueRef value, JSValueRef *exception)
{
    cs_autofree char *text =
        JSValueIsString(ctx, value) ? cs_app_js_to_utf8(ctx, value, NULL, exception) : NULL;
    char *path = text ? cs_app_vpath_from_public(text) : NULL;
    if (!path && !*exception)
        cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_VALUE",
                        "expected a file below %s, got '%s'", CS_APP_VROOT, text ? text : "");
    return path;
}

/* Read a module file, verified against the index in verified mode. A file
 * that fails verification ends the process: app code cannot catch it. */
static uint8_t *read_module(JSContextRef ctx, const char *path, size_t *len, JSValueRef *exception)
{
    cs_app_host *host = cs_app_host_from(ctx);
    cs_error err;
    uint8_t *data = NULL;
    int rc = cs_app_package_read(&host->package, path, &data, len, &err);
    if (rc == -CS_EVERIFY)
        cs_app_report_fatal(host, &err);
    if (rc < 0) {
        cs_app_js_throw(ctx, exception, "Error", "ERR_REQUIRE_FAILED", "%s", err.message);
        return NULL;
    }
    /* A UTF-8 byte order mark is not part of the text. */
    if (*len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        memmove(data, data + 3, *len - 3);
        *len -= 3;
    }
    return data;
}

/* resolve(request, parentFilename): the public path of the file that
 * require(request) loads from the module parentFilename (null for the top
 * folder). Throws an Error with a Node-style code when there is none. */
static JSValueRef native_resolve(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                 size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    cs_app_host *host = cs_app_host_from(ctx);
    if (argc < 1 || !JSValueIsString(ctx, argv[0]))
        return cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_TYPE",
                               "the module name must be a string");
    cs_autofree char *request = cs_app_js_to_utf8(ctx, argv[0], NULL, exception);
    cs_autofree char *parent = NULL;
    if (argc > 1 && !JSValueIsNull(ctx, argv[1]) && !JSValueIsUndefined(ctx, argv[1]))
        parent = package_path_arg(ctx, argv[1], exception);
    if (!request || *exception)
        return JSValueMakeUndefined(ctx);

    cs_error err;
    cs_autofree char *resolved = NULL;
    int rc = cs_app_resolve(&host->package, request, parent, &resolved, &err);
    if (rc == -CS_EVERIFY)
        cs_app_report_fatal(host, &err);
    if (rc < 0)
        return cs_app_js_throw(ctx, exception, "Error", cs_app_resolve_error_code(-rc), "%s",
                               err.message);
    cs_autofree char *public_path = cs_app_vpath_to_public(resolved);
    return public_path ? cs_app_js_string(ctx, public_path) : JSValueMakeUndefined(ctx);
}

/* compile(filename): read and verify the module file and return its code as
 * a function (exports, require, module, __filename, __dirname). A syntax
 * error is thrown with the file's public path and line. */
static JSValueRef native_compile(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                 size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    if (argc < 1)
        return cs_app_js_throw(ctx, exception, "TypeError", NULL, "compile(filename)");
    cs_autofree char *path = package_path_arg(ctx, argv[0], exception);
    if (!path)
        return JSValueMakeUndefined(ctx);
    size_t len;
    cs_autofree uint8_t *data = read_module(ctx, path, &len, exception);
    if (!data)
        return JSValueMakeUndefined(ctx);

    /* Wrap the source in UTF-16: UTF-8 never needs more code units than
     * bytes. */
    size_t plen = sizeof(wrapper_prefix) - 1, slen = sizeof(wrapper_suffix) - 1;
    cs_autofree uint16_t *units = malloc((plen + len + slen) * sizeof(uint16_t));
    if (!units)
        return cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
    for (size_t i = 0; i < plen; i++)
        units[i] = (uint8_t)wrapper_prefix[i];
    size_t n = cs_app_utf8_to_utf16(data, len, units + plen, NULL);
    /* A "#!" line, as in Node, is a comment. */
    if (n >= 2 && units[plen] == '#' && units[plen + 1] == '!')
        units[plen] = units[plen + 1] = '/';
    for (size_t i = 0; i < slen; i++)
        units[plen + n + i] = (uint8_t)wrapper_suffix[i];

    JSStringRef source = JSStringCreateWithCharacters(units, plen + n + slen);
    JSStringRef url = JSValueToStringCopy(ctx, argv[0], NULL);
    JSValueRef compiled = JSEvaluateScript(ctx, source, NULL, url, 1, exception);
    JSStringRelease(source);
    JSStringRelease(url);
    return compiled ? compiled : JSValueMakeUndefined(ctx);
}

/* readText(filename): the verified text of a file, for JSON modules. */
static JSValueRef native_read_text(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                   size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    if (argc < 1)
        return cs_app_js_throw(ctx, exception, "TypeError", NULL, "readText(filename)");
    cs_autofree char *path = package_path_arg(ctx, argv[0], exception);
    if (!path)
        return JSValueMakeUndefined(ctx);
    size_t len;
    cs_autofree uint8_t *data = read_module(ctx, path, &len, exception);
    if (!data)
        return JSValueMakeUndefined(ctx);
    return cs_app_js_string_n(ctx, (const char *)data, len);
}

void cs_app_modules_install(cs_app_host *host, JSObjectRef natives)
{
    JSContextRef ctx = host->ctx;
    cs_app_js_set_function(ctx, natives, "resolve", native_resolve);
    cs_app_js_set_function(ctx, natives, "compile", native_compile);
    cs_app_js_set_function(ctx, natives, "readText", native_read_text);
    cs_autofree char *main_path = cs_app_vpath_to_public(host->package.manifest.main);
    if (main_path)
        cs_app_js_set(ctx, natives, "mainFilename", cs_app_js_string(ctx, main_path));
}
