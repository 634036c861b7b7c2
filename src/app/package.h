/* The app folder: the signed index, the manifest, and reads of package
 * files that are verified against the index.
 *
 * In verified mode the index is the truth: a file is evaluated only when it
 * is listed and the bytes read into memory have the listed size and SHA-256.
 * Those same bytes are then evaluated, so no second read can swap them. In
 * developer mode (--dev) there is no index and nothing is verified. */
#pragma once

#include "common/error.h"
#include "package/index.h"
#include "package/manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_app_package {
    int dir_fd;
    bool verified;       /* false in developer mode */
    cs_index index;      /* zeroed in developer mode */
    uint8_t *index_text; /* exact bytes of .cashstory/index.json */
    size_t index_len;
    char index_sha256[CS_SHA256_HEX_LEN + 1];
    uint8_t *signature; /* .cashstory/index.sig */
    size_t signature_len;
    char *signer_public_key; /* PEM text of .cashstory/signer.pub, or NULL */
    cs_manifest manifest;
    char *origin_url; /* from .cashstory/origin.json, NULL when absent or invalid */
    char *origin_protocol;
} cs_app_package;

typedef enum cs_app_entry_kind {
    CS_APP_ENTRY_NONE,
    CS_APP_ENTRY_FILE,
    CS_APP_ENTRY_FOLDER,
} cs_app_entry_kind;

/* Open the app folder dir. With expected_index_sha256 (verified mode), read
 * .cashstory/index.json, compare its SHA-256 with the expected digest in
 * constant time, parse it, and read the verified manifest. Without it
 * (developer mode) read the manifest unverified. Verification failures
 * return -CS_EVERIFY. */
int cs_app_package_open(cs_app_package *pkg, const char *dir, const uint8_t *expected_index_sha256,
                        cs_error *err);
void cs_app_package_free(cs_app_package *pkg);

/* What the package path names: a listed file, a folder of listed files, or
 * (when the index lists neither) what is on disk, so that a file added
 * after signing is found and then rejected by cs_app_package_read. A
 * symbolic link counts as a file for the same reason. Paths under
 * .cashstory/ name nothing. The empty path is the top folder. */
cs_app_entry_kind cs_app_package_lookup(const cs_app_package *pkg, const char *path);

/* Read the file at the canonical package path into a new NUL-terminated
 * buffer. In verified mode the file must be listed and match the index:
 * otherwise -CS_EVERIFY with a message that names the path and states that
 * it failed verification. Symbolic links are never followed. */
int cs_app_package_read(const cs_app_package *pkg, const char *path, uint8_t **out, size_t *len,
                        cs_error *err);
