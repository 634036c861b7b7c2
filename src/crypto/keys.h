/* Publisher keys: Ed25519 key pairs in PEM files and their key ids. */
#pragma once

#include "common/error.h"

#include <openssl/evp.h>
#include <stddef.h>

#define CS_KEY_ID_HEX_LEN 64

/* Limit on the size of key and certificate files, in bytes. */
#define CS_KEY_FILE_MAX (256 * 1024)

/* Generate an Ed25519 key pair and write <base>.key (PKCS#8 PEM, mode 0600)
 * and <base>.pub (SubjectPublicKeyInfo PEM, mode 0644). Existing files are
 * never overwritten. On success key_id receives the new key's id. */
int cs_key_generate(const char *base, char key_id[CS_KEY_ID_HEX_LEN + 1], cs_error *err);

/* Load a private key from a PEM file. The file's bytes are wiped from memory
 * after parsing. */
int cs_key_load_private(const char *path, EVP_PKEY **out, cs_error *err);

/* Load a public key from a PEM file that contains a public key, a private key
 * or a certificate. */
int cs_key_load_public(const char *path, EVP_PKEY **out, cs_error *err);

/* Parse a public key from PEM bytes (SubjectPublicKeyInfo only). */
int cs_key_parse_public(const void *pem, size_t len, EVP_PKEY **out, cs_error *err);

/* Key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo of key. */
int cs_key_id(EVP_PKEY *key, char out[CS_KEY_ID_HEX_LEN + 1]);

/* PEM SubjectPublicKeyInfo of key in a new buffer. */
int cs_key_public_pem(EVP_PKEY *key, char **pem, size_t *len, cs_error *err);
