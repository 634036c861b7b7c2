/* Signatures over package indexes: Ed25519 or X.509 code signing (CMS).
 *
 * Every signature covers a domain-separation prefix followed by the exact
 * signed bytes, so a signature made for one purpose (a package index) can
 * never be accepted for another (repository metadata, for example). */
#pragma once

#include "common/error.h"
#include "crypto/keys.h"
#include "crypto/trust.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Domain of package index signatures; the terminating NUL is part of it. */
#define CS_DOMAIN_PACKAGE_INDEX "CashStory package index v1"

#define CS_ED25519_SIG_LEN 64
#define CS_SIGNATURE_MAX (256 * 1024)

typedef enum cs_signer_type {
    CS_SIGNER_ED25519 = 1,
    CS_SIGNER_X509 = 2,
} cs_signer_type;

/* Who signed, as established by signature verification. */
typedef struct cs_signer {
    cs_signer_type type;
    char key_id[CS_KEY_ID_HEX_LEN + 1]; /* id of the signing public key (both types) */
    char subject[512];                  /* X.509: RFC 2253 subject, UTF-8 */
    bool subject_truncated;             /* X.509: subject longer than 511 bytes */
    char cert_sha256[65];               /* X.509: SHA-256 of the DER certificate */
    bool trusted;
    char trust_note[768]; /* the trusted publisher's name, or why the signer is not trusted */
} cs_signer;

/* Sign data (with the domain prefix) using an Ed25519 private key. */
int cs_sign_ed25519(EVP_PKEY *key, const char *domain, const void *data, size_t len,
                    uint8_t sig[CS_ED25519_SIG_LEN], cs_error *err);

/* Verify an Ed25519 signature made by public_key over data, then look the key
 * up in trust. Returns -CS_EVERIFY when the signature does not match. */
int cs_verify_ed25519(EVP_PKEY *public_key, const char *domain, const void *data, size_t len,
                      const uint8_t *sig, size_t sig_len, const cs_trust *trust, cs_signer *signer,
                      cs_error *err);

/* Sign data (with the domain prefix) as a detached CMS SignedData in DER,
 * including cert and chain so that verifiers can build the path. */
int cs_sign_cms(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const char *domain,
                const void *data, size_t len, uint8_t **der, size_t *der_len, cs_error *err);

/* Verify a detached CMS signature over data: exactly one signer, a valid
 * signature (-CS_EVERIFY otherwise), then the certificate path to a CA in
 * trust, validity dates and the codeSigning extended key usage. A valid
 * signature whose certificate fails those checks returns 0 with
 * signer->trusted false and the reason in signer->trust_note. */
int cs_verify_cms(const uint8_t *der, size_t der_len, const char *domain, const void *data,
                  size_t len, const cs_trust *trust, cs_signer *signer, cs_error *err);

/* Fill the X.509 fields of signer (subject, certificate digest, key id) from cert. */
int cs_certificate_describe(X509 *cert, cs_signer *signer);

/* Load a certificate (first PEM block) and optional chain (all PEM blocks). */
int cs_load_certificate(const char *path, X509 **out, cs_error *err);
int cs_load_certificate_chain(const char *path, STACK_OF(X509) * *out, cs_error *err);
