/* Trust configuration: the publisher keys and CA certificates a desktop trusts.
 *
 * File format (JSON):
 *   {
 *     "publishers": [ { "name": "Example Corp", "key_id": "<64 hex digits>" } ],
 *     "ca_certificates": [ "ca/root.pem" ]
 *   }
 * Relative certificate paths are resolved against the folder of the file. */
#pragma once

#include "common/error.h"
#include "crypto/keys.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>

#define CS_TRUST_DEFAULT_PATH "/etc/cashstory/trust.json"
#define CS_TRUST_FILE_MAX (1024 * 1024)
#define CS_TRUST_MAX_KEYS 4096
#define CS_TRUST_MAX_CAS 1024

typedef struct cs_trust_key {
    char key_id[CS_KEY_ID_HEX_LEN + 1];
    char *name;   /* publisher name, may be empty */
    char *source; /* file that listed the key, for messages */
} cs_trust_key;

typedef struct cs_trust {
    cs_trust_key *keys;
    size_t nkeys;
    STACK_OF(X509) * cas;
    char description[512]; /* where the trust came from, for messages */
} cs_trust;

void cs_trust_init(cs_trust *trust);
void cs_trust_free(cs_trust *trust);

/* Add the keys and CA certificates listed in the trust file at path. With
 * missing_ok, an absent file adds nothing and is not an error. */
int cs_trust_load_file(cs_trust *trust, const char *path, bool missing_ok, cs_error *err);

/* Add the entries of a "publishers" array and a "ca_certificates" array
 * (either may be NULL) in the trust file format. Messages name their file
 * as path, and relative certificate paths start in base. */
int cs_trust_add_json(cs_trust *trust, json_t *publishers, json_t *cas, const char *path,
                      const char *base, cs_error *err);

/* Trust the public key in the PEM file at path. */
int cs_trust_add_key_file(cs_trust *trust, const char *path, cs_error *err);

/* Trusted entry for key_id, or NULL. Compares every entry in constant time. */
const cs_trust_key *cs_trust_find_key(const cs_trust *trust, const char *key_id);
