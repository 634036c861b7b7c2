/* Shared steps of the repository commands. */
#pragma once

#include "update/metadata.h"
#include "update/metadata_internal.h"
#include "update/repo.h"

#include <stdbool.h>

/* A file to write when the command commits, name relative to the folder. */
typedef struct staged_file {
    char *name;
    char *data;
    size_t len;
} staged_file;

/* A private key loaded from the key folder, by base name ("targets"). */
typedef struct repo_key {
    char *base;
    EVP_PKEY *key;
} repo_key;

/* An open, locked repository and the files a command will write. */
typedef struct repo {
    const char *dir;
    const char *keys_dir; /* NULL when the command signs nothing */
    int dirfd;            /* keeps the flock(2) lock */
    time_t now;           /* one time for the whole command */
    cs_meta *root, *targets, *snapshot, *timestamp;
    staged_file *staged;
    size_t nstaged;
    size_t ncommitted; /* staged files written so far */
    bool hold_writes;  /* cs_repo_publish checks but leaves cs_repo_commit to the caller */
    repo_key *keys;
    size_t nkeys;
} repo;

/* "a/b" in a new string, or NULL when out of memory. */
char *cs_repo_path(const char *a, const char *b);

/* Fail when keys_dir is dir or inside it, where a web server would publish
 * the keys. Either folder may be missing. */
int cs_repo_check_keys_outside(const char *dir, const char *keys_dir, cs_error *err);

/* Open and lock dir and load its root, targets, snapshot and timestamp. */
int cs_repo_open(repo *r, const char *dir, const char *keys_dir, bool exclusive, cs_error *err);
void cs_repo_close(repo *r);

/* Load keys_dir/BASE.key once per command. With keyids, the key's id must be
 * one of them; `signs` names what the key signs, for messages. The key stays
 * owned by r. */
int cs_repo_key(repo *r, const char *base, const json_t *keyids, const char *signs, EVP_PKEY **out,
                cs_error *err);
/* The key of a top-level role, which root must list for that role. */
int cs_repo_role_key(repo *r, cs_meta_type role, EVP_PKEY **out, cs_error *err);

/* Generate keys_dir/BASE.key and .pub and load the private key into *out. */
int cs_repo_generate_key(const char *keys_dir, const char *base, EVP_PKEY **out,
                         char id[CS_KEY_ID_HEX_LEN + 1], cs_error *err);

/* Raise the version of a "signed" object by one and set its expiry to
 * expires, or to now + lifetime when expires is 0. */
int cs_repo_bump(json_t *signed_part, time_t now, time_t lifetime, time_t expires, cs_error *err);

/* Add a copy of data to the files that cs_repo_commit writes. */
int cs_repo_stage(repo *r, const char *name, const char *data, size_t len, cs_error *err);

/* Sign, parse back and stage a metadata file (and its versioned copy). */
int cs_repo_sign(repo *r, const char *name, cs_meta_type type, json_t *signed_part,
                 EVP_PKEY *const *keys, size_t nkeys, bool versioned_copy, cs_meta **out,
                 cs_error *err);

/* Sign a timestamp for snapshot. */
int cs_repo_sign_timestamp(repo *r, const cs_meta *snapshot, time_t expires, cs_meta **out,
                           cs_error *err);

/* After the changed targets files are staged: stage a snapshot that lists
 * them and a timestamp, check everything, write it all. */
int cs_repo_publish(repo *r, const cs_meta *const *changed, size_t nchanged, cs_repo_result *out,
                    cs_error *err);

/* Verify new metadata against r's root and current files, as a client would. */
int cs_repo_check(repo *r, const cs_meta *timestamp, const cs_meta *snapshot,
                  const cs_meta *const *changed, size_t nchanged, cs_error *err);

/* Load the file of delegated role `role` under the version that snapshot
 * lists. *out is NULL when snapshot lists no file for the role. */
int cs_repo_load_delegated(const char *dir, const cs_meta *snapshot, const char *role,
                           cs_meta **out, cs_error *err);

/* The targets file that lists app ids of role (NULL for the top-level
 * targets): a copy of its "signed" object, its name and the key that signs
 * it. A delegated role without a file yet starts from an empty one. */
typedef struct role_file {
    char name[CS_META_NAME_MAX + 32];
    char role[CS_META_NAME_MAX + 1];
    json_t *signed_part;
    EVP_PKEY *key; /* owned by the repo */
} role_file;

void cs_repo_role_file_free(role_file *f);
int cs_repo_load_role_file(repo *r, const char *role, role_file *f, cs_error *err);

/* Sign the changed role file and publish it with a new snapshot and
 * timestamp. extra lists further changed files that are already signed. */
int cs_repo_publish_role_file(repo *r, role_file *f, const cs_meta *extra, cs_repo_result *out,
                              cs_error *err);

/* Write every staged file in order. */
int cs_repo_commit(repo *r, cs_error *err);

/* { "version", "sha256", "size" } of a parsed file. */
json_t *cs_repo_file_entry(const cs_meta *meta);
/* { "type": "ed25519", "public" } of a key. */
json_t *cs_repo_key_entry(EVP_PKEY *key);
/* type, format, version 1 and expires of a new "signed" object. */
json_t *cs_repo_header(const char *type, time_t expires);
