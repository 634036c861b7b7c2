/* Parts of a parsed metadata file shared by the parser and the checks. */
#pragma once

#include "crypto/signature.h"
#include "update/metadata.h"

#define CS_META_MAX_SIGNATURES 64

typedef struct cs_meta_signature {
    char keyid[CS_KEY_ID_HEX_LEN + 1];
    uint8_t sig[CS_ED25519_SIG_LEN];
} cs_meta_signature;

struct cs_meta {
    cs_meta_type type;
    char name[1024]; /* file name for messages */
    uint64_t version;
    time_t expires;
    json_t *document;    /* the whole file */
    json_t *signed_part; /* "signed", owned by document */
    cs_meta_signature *signatures;
    size_t nsignatures;
    char *canonical; /* canonical bytes of "signed", without the domain */
    size_t canonical_len;
    cs_meta_hashed file_hash;
};

/* Names of the roles, indexed by cs_meta_type. */
extern const char *const cs_meta_role_names[4];

/* Decode a validated "public" value of keys[keyid] into an Ed25519 key. */
EVP_PKEY *cs_meta_key_from_hex(const char *hex);
