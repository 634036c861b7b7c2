/* Repository metadata: the signed root, targets, snapshot and timestamp files
 * of an update repository (docs/repository.md is the format specification).
 *
 * Parsing is strict and never trusts its input: unknown fields, duplicate
 * keys, wrong types and values beyond the limits below are errors that name
 * the file and the field. Parsing checks structure only. The cs_meta_verify_*
 * functions check signatures, thresholds, versions, digests and expiry, in
 * the order a client must apply them.
 *
 * Every function returns 0 or a negative errno-style code and fills err.
 * Signature, threshold, digest, version and delegation failures return
 * -CS_EVERIFY; expired metadata returns -CS_EEXPIRED. A cs_meta is immutable
 * after parsing and may be read from several threads at once. */
#pragma once

#include "common/error.h"
#include "crypto/digest.h"
#include "crypto/keys.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Domain of repository metadata signatures; the terminating NUL is part of
 * it. It differs from the package index domain, so a package signature can
 * never be replayed as metadata, nor the other way round. */
#define CS_DOMAIN_REPOSITORY_METADATA "CashStory repository metadata v1"

/* Value of every metadata file's "format" field. */
#define CS_META_FORMAT "cashstory-repository/1"

/* Metadata that expired at most this many seconds ago is still accepted, so a
 * desktop whose clock runs a few minutes fast keeps updating. */
#define CS_META_CLOCK_SKEW 300

/* Code for metadata whose "expires" time has passed (beyond the skew). */
enum { CS_EEXPIRED = 10003 };

/* Size limits of metadata files, in bytes. A client downloads root and
 * timestamp files with these limits, and snapshot and targets files with the
 * exact size that the timestamp and snapshot state. */
#define CS_META_ROOT_MAX (512 * 1024)
#define CS_META_TIMESTAMP_MAX (16 * 1024)
#define CS_META_SNAPSHOT_MAX (16 * 1024 * 1024)
#define CS_META_TARGETS_MAX (64 * 1024 * 1024)

/* Limits on the contents. */
#define CS_META_VERSION_MAX 9007199254740991ULL /* 2^53 - 1 */
#define CS_META_MAX_KEYS 256                    /* keys listed in one file */
#define CS_META_MAX_ROLE_KEYS 64                /* key ids of one role, and its threshold */
#define CS_META_MAX_DELEGATIONS 1024
#define CS_META_MAX_PATTERNS 64   /* app id patterns of one delegation */
#define CS_META_MAX_APPS 100000   /* apps in one targets file */
#define CS_META_MAX_VERSIONS 1024 /* versions of one app in one targets file */
#define CS_META_MAX_CHANNELS 64   /* channels of one app */
#define CS_META_MAX_FILES 1025    /* targets files named by a snapshot */
#define CS_META_NAME_MAX 64       /* role and channel names */

typedef enum cs_meta_type {
    CS_META_ROOT = 0,
    CS_META_TARGETS = 1,
    CS_META_SNAPSHOT = 2,
    CS_META_TIMESTAMP = 3,
} cs_meta_type;

/* Parsed metadata file (opaque). */
typedef struct cs_meta cs_meta;

/* Digest and exact size of a file: a blob or a metadata file. */
typedef struct cs_meta_hashed {
    char sha256[CS_SHA256_HEX_LEN + 1]; /* lowercase hex */
    uint64_t size;
} cs_meta_hashed;

/* A metadata file named by a timestamp or snapshot. */
typedef struct cs_meta_file {
    char name[CS_META_NAME_MAX + 32]; /* "snapshot.json", "targets.json", "delegations/R.json" */
    uint64_t version;
    cs_meta_hashed hash;
} cs_meta_file;

/* One published version of an app, as a targets file lists it. */
typedef struct cs_meta_target {
    char app_id[129];
    char version[129];
    cs_meta_hashed index;      /* .cashstory/index.json of the package */
    cs_meta_hashed signature;  /* .cashstory/index.sig */
    cs_meta_hashed signer_key; /* .cashstory/signer.pub; size 0 for X.509 packages */
    bool has_signer_key;
    char signer_key_id[CS_KEY_ID_HEX_LEN + 1]; /* the index's signer.key_id */
    char role[CS_META_NAME_MAX + 1]; /* "targets", or the delegated role named by the file's
                                        name ("delegations/acme.json") */
} cs_meta_target;

/* Parse one metadata file of the expected type. name is the file name used in
 * messages ("timestamp.json"). The structure is checked, signatures are not.
 * On success *out owns a copy of everything it needs; free it with
 * cs_meta_free. Errors: -EINVAL for malformed input (the message names the
 * field), -ENOMEM. */
int cs_meta_parse(const void *data, size_t len, cs_meta_type expected, const char *name,
                  cs_meta **out, cs_error *err);
void cs_meta_free(cs_meta *meta);

/* Read and parse a metadata file, rejecting files larger than max bytes or
 * reached through a symbolic link. */
int cs_meta_load(const char *path, cs_meta_type expected, size_t max, cs_meta **out, cs_error *err);

cs_meta_type cs_meta_get_type(const cs_meta *meta);
/* File name given to cs_meta_parse, or the path given to cs_meta_load. */
const char *cs_meta_name(const cs_meta *meta);
uint64_t cs_meta_version(const cs_meta *meta);
time_t cs_meta_expires(const cs_meta *meta);
/* Digest and size of the exact bytes that were parsed. */
const cs_meta_hashed *cs_meta_file_hash(const cs_meta *meta);
/* The validated "signed" object, for listing its contents; owned by meta. */
const json_t *cs_meta_signed(const cs_meta *meta);

/* Fail with -CS_EEXPIRED when meta expired before now - CS_META_CLOCK_SKEW.
 * Clients pass the time at which their update run started, so that metadata
 * cannot expire half-way through one run. */
int cs_meta_check_expiry(const cs_meta *meta, time_t now, cs_error *err);

/* Check that at least the threshold of distinct keys of the top-level role
 * `role` of root signed meta. Each key counts once however many signatures
 * name it; signatures by unknown keys are ignored. */
int cs_meta_verify_role(const cs_meta *root, cs_meta_type role, const cs_meta *meta, cs_error *err);

/* Step of the root rotation chain: next must be version trusted + 1 and be
 * signed by the threshold of the root keys of trusted and by the threshold of
 * its own root keys. Expiry is not checked here, only on the last root of the
 * chain. Sets *keys_changed when the timestamp or snapshot keys differ, so
 * the client discards its trusted timestamp and snapshot (recovery from a
 * fast-forward attack). */
int cs_meta_verify_root_update(const cs_meta *trusted, const cs_meta *next, bool *keys_changed,
                               cs_error *err);

/* Verify a new timestamp: signed by the timestamp role of root, not expired,
 * and its version and its snapshot version not below those of trusted (which
 * may be NULL on a first run). */
int cs_meta_verify_timestamp(const cs_meta *root, const cs_meta *trusted, const cs_meta *timestamp,
                             time_t now, cs_error *err);

/* Verify a new snapshot: its bytes have the digest, size and version that the
 * verified timestamp names, it is signed by the snapshot role of root and not
 * expired. Against trusted (may be NULL), no targets file may disappear or
 * have a lower version. */
int cs_meta_verify_snapshot(const cs_meta *root, const cs_meta *timestamp, const cs_meta *trusted,
                            const cs_meta *snapshot, time_t now, cs_error *err);

/* Verify the top-level targets file: the digest, size and version that the
 * verified snapshot names for "targets.json", signed by the targets role of
 * root, not expired. */
int cs_meta_verify_targets(const cs_meta *root, const cs_meta *snapshot, const cs_meta *targets,
                           time_t now, cs_error *err);

/* Verify the metadata of delegated role `role` (file "delegations/ROLE.json"):
 * the digest, size and version that snapshot names, signed by the threshold
 * of the keys that the verified top-level targets delegate to role, not
 * expired, no further delegations, and every app id it lists inside the
 * role's patterns. */
int cs_meta_verify_delegated(const cs_meta *targets, const cs_meta *snapshot, const char *role,
                             const cs_meta *delegated, time_t now, cs_error *err);

/* Entry for file name in a snapshot, or in a timestamp (name
 * "snapshot.json"). Returns -ENOENT when it is not listed. */
int cs_meta_find_file(const cs_meta *meta, const char *name, cs_meta_file *out, cs_error *err);

/* Name of the delegated role of the top-level targets whose patterns match
 * app_id, or NULL when the top-level targets role itself publishes app_id.
 * The first matching delegation in listed order decides. The string is owned
 * by targets. */
const char *cs_meta_delegation_for(const cs_meta *targets, const char *app_id);

/* True when the top-level targets delegate app_id to role, that is when role
 * is the first delegation whose patterns match app_id. */
bool cs_meta_delegation_allows(const cs_meta *targets, const char *role, const char *app_id);

/* Name rules of the targets format, which docs/repository.md states. A
 * channel name: 1 to CS_META_NAME_MAX bytes of a-z, 0-9, '.', '_' and '-',
 * starting with a letter or digit. A delegated role name: 1 to
 * CS_META_NAME_MAX bytes of a-z, 0-9 and '-', not "targets". A pattern: an
 * app id, or an app id followed by ".*". */
bool cs_meta_channel_name_valid(const char *name);
bool cs_meta_role_name_valid(const char *name);
bool cs_meta_pattern_valid(const char *pattern);

/* True when app id pattern matches app_id: the pattern is an app id, which
 * matches itself, or an app id followed by ".*", which matches every id that
 * starts with it and has at least one more label. */
bool cs_meta_pattern_match(const char *pattern, const char *app_id);

/* Look up app_id in a verified targets file (top-level or delegated). With
 * version NULL, the version that channel points to; otherwise that version
 * (channel is then ignored). Returns -ENOENT when the app, the channel or the
 * version is not listed, with a message that names what is missing. */
int cs_meta_find_target(const cs_meta *targets, const char *app_id, const char *channel,
                        const char *version, cs_meta_target *out, cs_error *err);

/* Canonical signed bytes of a "signed" object: compact JSON with keys sorted
 * by byte order, as docs/repository.md defines. Returns a malloc'ed string
 * (not including the domain) and its length in *len, or NULL when out of
 * memory. */
char *cs_meta_canonical(const json_t *signed_object, size_t *len);

/* Sign signed_object with each of the nkeys Ed25519 private keys and write the
 * whole metadata file ({"signatures": [...], "signed": {...}}, two-space
 * indentation, final newline) into a new buffer *out of *out_len bytes.
 * signed_object is not validated here; callers parse the result back with
 * cs_meta_parse before publishing it. */
int cs_meta_sign(const json_t *signed_object, EVP_PKEY *const *keys, size_t nkeys, char **out,
                 size_t *out_len, cs_error *err);

/* "public" value of an Ed25519 key in metadata: 64 hex digits of the raw key. */
int cs_meta_key_public_hex(EVP_PKEY *key, char out[65], cs_error *err);

/* Format t as the "expires" form YYYY-MM-DDTHH:MM:SSZ (21 bytes with NUL). */
void cs_meta_format_time(time_t t, char out[21]);
