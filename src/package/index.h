/* The package index: the signed list of every file in a package.
 *
 * Stored as .cashstory/index.json; its exact bytes are what the publisher
 * signs. docs/formats.md specifies the format. */
#pragma once

#include "common/error.h"
#include "crypto/digest.h"
#include "crypto/signature.h"

#include <stddef.h>
#include <stdint.h>

#define CS_INDEX_FORMAT "cashstory-index/1"
#define CS_META_DIR ".cashstory"
#define CS_META_INDEX ".cashstory/index.json"
#define CS_META_SIGNATURE ".cashstory/index.sig"
#define CS_META_SIGNER_KEY ".cashstory/signer.pub"
#define CS_META_ORIGIN ".cashstory/origin.json"

/* Limits that every reader enforces. */
#define CS_INDEX_MAX_BYTES (16 * 1024 * 1024)
#define CS_INDEX_MAX_FILES 100000
#define CS_FILE_MAX_BYTES (1024ULL * 1024 * 1024)
#define CS_PACKAGE_MAX_BYTES (4ULL * 1024 * 1024 * 1024)

typedef struct cs_index_file {
    char *path;
    uint64_t size;
    uint8_t sha256[CS_SHA256_LEN];
    unsigned mode; /* 0644 or 0755 */
} cs_index_file;

typedef struct cs_index {
    char *app_id;
    char *version;
    char *created; /* UTC, "YYYY-MM-DDTHH:MM:SSZ" */
    uint8_t manifest_sha256[CS_SHA256_LEN];
    cs_signer_type signer_type;
    char signer_key_id[CS_KEY_ID_HEX_LEN + 1];
    char *signer_subject;        /* X.509 only, else NULL */
    char signer_cert_sha256[65]; /* X.509 only, else empty */
    cs_index_file *files;        /* sorted by path, byte order */
    size_t nfiles;
    uint64_t total_size;
} cs_index;

/* Parse and validate index bytes: known fields only, canonical unique sorted
 * paths outside .cashstory, no file that is also a folder of another, sizes
 * within the limits, and a cashstory.json entry whose digest equals
 * manifest_sha256. */
int cs_index_parse(const void *data, size_t len, cs_index *out, cs_error *err);

/* Serialize to canonical JSON (sorted keys, two-space indent, final newline). */
char *cs_index_serialize(const cs_index *index);

const cs_index_file *cs_index_find(const cs_index *index, const char *path);
size_t cs_index_position(const cs_index *index, const cs_index_file *file);

void cs_index_free(cs_index *index);
