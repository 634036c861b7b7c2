/* Natives that describe the app: cashstory.app, cashstory.signatures and
 * process.argv. bootstrap.js freezes them. */
#include "app/jsutil.h"
#include "app/natives.h"
#include "app/vpath.h"
#include "common/cleanup.h"
#include "common/hex.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

static void set_string(JSContextRef ctx, JSObjectRef object, const char *name, const char *value)
{
    cs_app_js_set(ctx, object, name, cs_app_js_string(ctx, value));
}

static const char *signer_type_name(const cs_index *index)
{
    return index->signer_type == CS_SIGNER_X509 ? "x509" : "ed25519";
}

/* {type, keyId, subject?} of the signed index, or null in developer mode. */
static JSValueRef publisher_object(JSContextRef ctx, const cs_app_package *pkg)
{
    if (!pkg->verified)
        return JSValueMakeNull(ctx);
    JSObjectRef publisher = JSObjectMake(ctx, NULL, NULL);
    set_string(ctx, publisher, "type", signer_type_name(&pkg->index));
    set_string(ctx, publisher, "keyId", pkg->index.signer_key_id);
    if (pkg->index.signer_subject)
        set_string(ctx, publisher, "subject", pkg->index.signer_subject);
    return publisher;
}

static JSValueRef app_object(JSContextRef ctx, const cs_app_package *pkg)
{
    JSObjectRef app = JSObjectMake(ctx, NULL, NULL);
    set_string(ctx, app, "id", pkg->manifest.id);
    set_string(ctx, app, "version", pkg->manifest.version);
    set_string(ctx, app, "name", pkg->manifest.name);
    cs_app_js_set(ctx, app, "publisher", publisher_object(ctx, pkg));
    JSValueRef origin = JSValueMakeNull(ctx);
    if (pkg->origin_url) {
        JSObjectRef object = JSObjectMake(ctx, NULL, NULL);
        set_string(ctx, object, "url", pkg->origin_url);
        set_string(ctx, object, "protocol", pkg->origin_protocol);
        origin = object;
    }
    cs_app_js_set(ctx, app, "origin", origin);
    cs_app_js_set(ctx, app, "verified", JSValueMakeBoolean(ctx, pkg->verified));
    return app;
}

static JSValueRef signer_object(JSContextRef ctx, const cs_app_package *pkg)
{
    JSObjectRef signer = JSObjectMake(ctx, NULL, NULL);
    set_string(ctx, signer, "type", signer_type_name(&pkg->index));
    set_string(ctx, signer, "keyId", pkg->index.signer_key_id);
    if (pkg->index.signer_subject)
        set_string(ctx, signer, "subject", pkg->index.signer_subject);
    if (pkg->index.signer_cert_sha256[0])
        set_string(ctx, signer, "certificateSha256", pkg->index.signer_cert_sha256);
    if (pkg->signer_public_key)
        set_string(ctx, signer, "publicKey", pkg->signer_public_key);
    return signer;
}

static JSValueRef files_array(JSContextRef ctx, const cs_index *index)
{
    JSObjectRef files = JSObjectMakeArray(ctx, 0, NULL, NULL);
    for (size_t i = 0; i < index->nfiles; i++) {
        const cs_index_file *f = &index->files[i];
        char digest[CS_SHA256_HEX_LEN + 1], mode[8];
        cs_hex_encode(f->sha256, CS_SHA256_LEN, digest);
        snprintf(mode, sizeof(mode), "%04o", f->mode);
        JSObjectRef file = JSObjectMake(ctx, NULL, NULL);
        set_string(ctx, file, "path", f->path);
        cs_app_js_set(ctx, file, "size", JSValueMakeNumber(ctx, (double)f->size));
        set_string(ctx, file, "sha256", digest);
        set_string(ctx, file, "mode", mode);
        JSObjectSetPropertyAtIndex(ctx, files, (unsigned)i, file, NULL);
    }
    return files;
}

/* Everything the app needs to check its own signature, or null in
 * developer mode. */
static JSValueRef signatures_object(JSContextRef ctx, const cs_app_package *pkg)
{
    if (!pkg->verified)
        return JSValueMakeNull(ctx);
    JSObjectRef object = JSObjectMake(ctx, NULL, NULL);
    cs_app_js_set(ctx, object, "index",
                  cs_app_js_string_n(ctx, (const char *)pkg->index_text, pkg->index_len));
    set_string(ctx, object, "indexSha256", pkg->index_sha256);

    cs_autofree char *base64 = malloc(4 * ((pkg->signature_len + 2) / 3) + 1);
    if (base64) {
        EVP_EncodeBlock((unsigned char *)base64, pkg->signature, (int)pkg->signature_len);
        set_string(ctx, object, "signature", base64);
    }
    cs_app_js_set(ctx, object, "signer", signer_object(ctx, pkg));
    cs_app_js_set(ctx, object, "files", files_array(ctx, &pkg->index));
    return object;
}

/* ["cashstory-app", "/app/<main>", ...the arguments after "--"]. */
static JSValueRef argv_array(JSContextRef ctx, const cs_app_host *host)
{
    JSObjectRef argv = JSObjectMakeArray(ctx, 0, NULL, NULL);
    JSObjectSetPropertyAtIndex(ctx, argv, 0, cs_app_js_string(ctx, "cashstory-app"), NULL);
    cs_autofree char *main_path = cs_app_vpath_to_public(host->package.manifest.main);
    if (main_path)
        JSObjectSetPropertyAtIndex(ctx, argv, 1, cs_app_js_string(ctx, main_path), NULL);
    for (size_t i = 0; i < host->options->nargs; i++)
        JSObjectSetPropertyAtIndex(ctx, argv, (unsigned)(i + 2),
                                   cs_app_js_string(ctx, host->options->args[i]), NULL);
    return argv;
}

void cs_app_info_install(cs_app_host *host, JSObjectRef natives)
{
    JSContextRef ctx = host->ctx;
    cs_app_js_set(ctx, natives, "app", app_object(ctx, &host->package));
    cs_app_js_set(ctx, natives, "signatures", signatures_object(ctx, &host->package));
    cs_app_js_set(ctx, natives, "argv", argv_array(ctx, host));
    set_string(ctx, natives, "version", CS_VERSION);
}
