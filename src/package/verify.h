/* Verification of packages: a .csa archive, an unpacked package folder or an
 * installed app.
 *
 * Every check runs in the same order. First the index, its signature and the
 * signer key are read, and the signature over the exact index bytes is
 * verified. Only then is the index parsed and every file compared with it. */
#pragma once

#include "common/error.h"
#include "crypto/trust.h"
#include "package/index.h"
#include "package/report.h"

#include <stdbool.h>

typedef struct cs_verify_result {
    bool signature_valid; /* the index bytes match the signature */
    bool index_valid;     /* index parsed; fields below are set */
    cs_signer signer;
    cs_index index;
    char *app_name; /* from the manifest, once its digest matched */
    uint8_t index_sha256[CS_SHA256_LEN];
    uint64_t files_checked;
    uint64_t bytes_checked;
    cs_report report;
} cs_verify_result;

void cs_verify_result_free(cs_verify_result *result);

/* Verify the archive at path. When extract_dirfd >= 0, every file and the
 * metadata are also written below that folder as they are checked; the caller
 * discards the folder unless verification succeeds.
 *
 * Returns 0 when every check passed and the signer is trusted, -CS_EVERIFY
 * when a problem was found, -CS_EUNTRUSTED when the only problem is an
 * untrusted signer, or another negative code for errors such as I/O failures.
 * Problems are listed in result->report, and err contains the first. */
int cs_verify_archive(const char *path, const cs_trust *trust, int extract_dirfd,
                      cs_verify_result *result, cs_error *err);

/* Same for the archive held in memory (used by the fuzz target). */
int cs_verify_archive_memory(const void *data, size_t len, const cs_trust *trust,
                             cs_verify_result *result, cs_error *err);

/* Verify the unpacked package folder at path: signature, trust, every file's
 * size, digest and executable bit, and no file that the index does not list.
 * Files are hashed in parallel, one thread per online CPU up to 16. */
int cs_verify_dir(const char *path, const cs_trust *trust, cs_verify_result *result, cs_error *err);
