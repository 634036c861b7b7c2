/* Building signed .csa packages from app folders. */
#pragma once

#include "common/error.h"
#include "crypto/signature.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_pack_options {
    const char *dir;        /* app folder with cashstory.json */
    const char *key_path;   /* private key (Ed25519, or the certificate's key) */
    const char *cert_path;  /* X.509 code-signing certificate, or NULL for Ed25519 */
    const char *chain_path; /* intermediate certificates (PEM), or NULL */
    const char *out_path;   /* .csa file to write */
} cs_pack_options;

typedef struct cs_pack_result {
    char app_id[128 + 1];
    char version[128 + 1];
    cs_signer signer;
    size_t files;
    uint64_t bytes;
    char warning[768]; /* a problem verifiers will reject the package for, or empty */
} cs_pack_result;

/* Validate the manifest, index every file, sign the index and write the
 * archive through a temporary file renamed into place. The same folder
 * contents, times and key give byte-identical output for Ed25519 keys and for
 * RSA certificate keys (ECDSA signatures are randomized). The creation time
 * is $SOURCE_DATE_EPOCH when set, else the newest file modification time. */
int cs_pack(const cs_pack_options *options, cs_pack_result *result, cs_error *err);
