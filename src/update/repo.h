/* Publishing side of an update repository: create it, add packages, move
 * channels, re-sign metadata, rotate keys, delegate app ids and verify the
 * whole folder. docs/repository.md specifies the format.
 *
 * Key files live in a key folder outside the repository folder, named after
 * the role they sign for: root.key, targets.key, snapshot.key, timestamp.key
 * and delegation-NAME.key (each with its .pub). A command loads only the keys
 * of the files it re-signs, so a host that runs `repo timestamp` needs
 * timestamp.key alone.
 *
 * Every command takes an exclusive flock(2) on the repository folder, builds
 * all new files in memory and checks them against the root metadata. Only
 * then does it write them, in the order blobs, targets files, snapshot,
 * timestamp, each through a temporary file and a rename. A failure before
 * the writes leaves the published state as it was. All functions return 0 or a negative
 * errno-style code and fill err. */
#pragma once

#include "common/error.h"
#include "crypto/trust.h"
#include "update/metadata.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Expiry of the metadata that the commands write, in seconds from now. */
#define CS_REPO_ROOT_LIFETIME (365 * 86400)
#define CS_REPO_TARGETS_LIFETIME (90 * 86400)
#define CS_REPO_SNAPSHOT_LIFETIME (7 * 86400)
#define CS_REPO_TIMESTAMP_LIFETIME 86400

/* repo timestamp warns about root, targets and delegated files that expire
 * within this many seconds. */
#define CS_REPO_WARN_BEFORE (30 * 86400)

/* What a command published, for its output. */
typedef struct cs_repo_result {
    uint64_t root_version;
    uint64_t targets_version; /* of targets.json, 0 when not published */
    uint64_t role_version;    /* of delegations/ROLE.json, 0 when not published */
    uint64_t snapshot_version;
    uint64_t timestamp_version;
    time_t timestamp_expires;
    char role[CS_META_NAME_MAX + 1]; /* delegated role the command changed, or "" */
    char app_id[129];
    char version[129];
    uint64_t blobs_added; /* add: blobs written */
    uint64_t bytes_added;
    uint64_t blobs_present;             /* add: blobs that were already stored */
    char key_id[CS_KEY_ID_HEX_LEN + 1]; /* rotate-key, delegate: the role's key */
    bool key_generated;                 /* key_id names a key this command generated */
    char warnings[2048];                /* timestamp: lines about metadata that expires soon */
} cs_repo_result;

/* Create the repository folder dir (which may exist but must not contain
 * metadata) and the key folder keys_dir (mode 0700), generate one Ed25519
 * key per role and write version 1 of every metadata file. keys_dir must not
 * be inside dir, which is checked before anything is created. On failure,
 * the folders, keys and files that the call created are removed. */
int cs_repo_init(const char *dir, const char *keys_dir, cs_repo_result *out, cs_error *err);

/* Verify the package at package_path (signature, every file, and a signer
 * that trust trusts), store its files as blobs, list its version in the
 * targets file of the role that owns its app id and point channel at it.
 * Re-signs that targets file, the snapshot and the timestamp. Adding a
 * version that is already listed with the same digests only moves the
 * channel; with other digests it is an error. */
int cs_repo_add(const char *dir, const char *keys_dir, const char *package_path,
                const char *channel, const cs_trust *trust, cs_repo_result *out, cs_error *err);

/* Point channel of app_id at version, which must already be listed. */
int cs_repo_promote(const char *dir, const char *keys_dir, const char *app_id, const char *version,
                    const char *channel, cs_repo_result *out, cs_error *err);

/* Write a new timestamp for the current snapshot, expiring at expires (0 for
 * CS_REPO_TIMESTAMP_LIFETIME from now). Needs only timestamp.key. When
 * keys_dir also has snapshot.key and the snapshot expires within half of
 * CS_REPO_SNAPSHOT_LIFETIME, the snapshot is re-signed too. Fills
 * out->warnings for metadata that expires within CS_REPO_WARN_BEFORE, or a
 * snapshot that expires before the new timestamp. The members
 * snapshot_version and targets_version are 0 unless re-signed. */
int cs_repo_timestamp(const char *dir, const char *keys_dir, time_t expires, cs_repo_result *out,
                      cs_error *err);

/* Replace the key of top-level role ("root", "targets", "snapshot" or
 * "timestamp") with a new key generated in keys_dir. Writes root version N+1
 * signed by the old and the new root keys, then re-signs what the new key
 * signs. The old key files are kept as ROLE.retired-N.key and .pub. */
int cs_repo_rotate_key(const char *dir, const char *keys_dir, const char *role, cs_repo_result *out,
                       cs_error *err);

/* Delegate the app ids that match patterns to role name, with the key
 * keys_dir/delegation-NAME.key (generated when missing). For an existing
 * delegation, replace its patterns. Writes the role's empty targets file when
 * it has none yet, and re-signs targets, snapshot and timestamp. An invalid
 * name or pattern fails before any key is generated, and a key generated for
 * a delegation that is not published is removed. */
int cs_repo_delegate(const char *dir, const char *keys_dir, const char *name,
                     const char *const *patterns, size_t npatterns, cs_repo_result *out,
                     cs_error *err);

/* Publish the next version of role's file with a fresh expiry and the same
 * content: "root" (signed by root.key), "targets", "snapshot", "timestamp"
 * or a delegated role's name. Files that list it are re-signed too. */
int cs_repo_resign(const char *dir, const char *keys_dir, const char *role, cs_repo_result *out,
                   cs_error *err);

/* Counts from cs_repo_verify. */
typedef struct cs_repo_summary {
    uint64_t root_version, timestamp_version, snapshot_version, targets_version;
    time_t timestamp_expires;
    size_t delegations, apps, versions;
    uint64_t blobs_checked, bytes_checked;
} cs_repo_summary;

/* Check the whole repository as a client would at time now, starting from
 * trusted_root (a root file; NULL for dir/1.root.json): the root chain, the
 * timestamp, snapshot, targets and delegated files and their versioned
 * copies, then every blob that a listed version needs, by size and SHA-256,
 * including the files of each package index. */
int cs_repo_verify(const char *dir, const char *trusted_root, time_t now, cs_repo_summary *out,
                   cs_error *err);
