#include "crypto/signature.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/utf8.h"
#include "crypto/digest.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>

/* Build domain || NUL || data in a new buffer. */
static uint8_t *with_domain(const char *domain, const void *data, size_t len, size_t *out_len)
{
    size_t dlen = strlen(domain) + 1;
    if (len > SIZE_MAX - dlen)
        return NULL;
    uint8_t *buf = malloc(dlen + len);
    if (!buf)
        return NULL;
    memcpy(buf, domain, dlen);
    if (len)
        memcpy(buf + dlen, data, len);
    *out_len = dlen + len;
    return buf;
}

int cs_sign_ed25519(EVP_PKEY *key, const char *domain, const void *data, size_t len,
                    uint8_t sig[CS_ED25519_SIG_LEN], cs_error *err)
{
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
        return cs_error_set(err, EINVAL,
                            "the signing key is not an Ed25519 key (use --cert for X.509 keys)");
    size_t msg_len;
    cs_autofree uint8_t *msg = with_domain(domain, data, len, &msg_len);
    if (!msg)
        return cs_error_set(err, ENOMEM, "out of memory");
    cs_automdctx EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = CS_ED25519_SIG_LEN;
    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, msg, msg_len) != 1 || sig_len != CS_ED25519_SIG_LEN)
        return cs_error_openssl(err, EIO, "Ed25519 signing failed");
    return 0;
}

int cs_verify_ed25519(EVP_PKEY *public_key, const char *domain, const void *data, size_t len,
                      const uint8_t *sig, size_t sig_len, const cs_trust *trust, cs_signer *signer,
                      cs_error *err)
{
    memset(signer, 0, sizeof(*signer));
    signer->type = CS_SIGNER_ED25519;
    if (EVP_PKEY_get_id(public_key) != EVP_PKEY_ED25519)
        return cs_error_set(err, CS_EVERIFY, "the signer's public key is not an Ed25519 key");
    if (cs_key_id(public_key, signer->key_id) < 0)
        return cs_error_set(err, CS_EVERIFY, "cannot compute the signer's key id");
    if (sig_len != CS_ED25519_SIG_LEN)
        return cs_error_set(err, CS_EVERIFY,
                            "the signature is %zu bytes, an Ed25519 signature is %d", sig_len,
                            CS_ED25519_SIG_LEN);

    size_t msg_len;
    cs_autofree uint8_t *msg = with_domain(domain, data, len, &msg_len);
    if (!msg)
        return cs_error_set(err, ENOMEM, "out of memory");
    cs_automdctx EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, public_key) != 1)
        return cs_error_openssl(err, EIO, "cannot set up Ed25519 verification");
    if (EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) != 1) {
        ERR_clear_error();
        return cs_error_set(err, CS_EVERIFY,
                            "the Ed25519 signature does not match the package index (key %s)",
                            signer->key_id);
    }

    const cs_trust_key *entry = cs_trust_find_key(trust, signer->key_id);
    if (entry) {
        signer->trusted = true;
        snprintf(signer->trust_note, sizeof(signer->trust_note), "%s",
                 entry->name[0] ? entry->name : entry->source);
    } else {
        snprintf(signer->trust_note, sizeof(signer->trust_note),
                 "key %s is not in %s; pass --trusted-key FILE.pub, or list the key id in a "
                 "trust file",
                 signer->key_id,
                 trust->description[0] ? trust->description : "the trust configuration");
    }
    return 0;
}

int cs_sign_cms(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const char *domain,
                const void *data, size_t len, uint8_t **der, size_t *der_len, cs_error *err)
{
    if (X509_check_private_key(cert, key) != 1)
        return cs_error_openssl(err, EINVAL, "the private key does not belong to the certificate");
    size_t msg_len;
    cs_autofree uint8_t *msg = with_domain(domain, data, len, &msg_len);
    if (!msg)
        return cs_error_set(err, ENOMEM, "out of memory");
    cs_autobio BIO *in = BIO_new_mem_buf(msg, (int)msg_len);
    /* No signed attributes: the signing time would make packs irreproducible. */
    int flags = CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP | CMS_NOATTR;
    cs_autocms CMS_ContentInfo *cms = in ? CMS_sign(cert, key, chain, in, flags) : NULL;
    if (!cms)
        return cs_error_openssl(err, EIO, "CMS signing failed");
    unsigned char *out = NULL;
    int n = i2d_CMS_ContentInfo(cms, &out);
    if (n <= 0)
        return cs_error_openssl(err, EIO, "cannot encode the CMS signature");
    *der = malloc((size_t)n);
    if (!*der) {
        OPENSSL_free(out);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    memcpy(*der, out, (size_t)n);
    *der_len = (size_t)n;
    OPENSSL_free(out);
    return 0;
}

/* Write the RFC 2253 subject of cert to out as UTF-8, truncated at a
 * character boundary when it does not fit. Returns false when truncated. */
static bool describe_subject(X509 *cert, char *out, size_t size)
{
    out[0] = '\0';
    unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    for (int attempt = 0; attempt < 2; attempt++) {
        BIO *bio = BIO_new(BIO_s_mem());
        if (!bio)
            return false;
        X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, flags);
        char *text;
        long n = BIO_get_mem_data(bio, &text);
        if (n < 0)
            n = 0;
        if (!cs_utf8_valid(text, (size_t)n)) {
            /* Fall back to escaping every non-ASCII byte. */
            BIO_free(bio);
            flags = XN_FLAG_RFC2253;
            continue;
        }
        bool fits = (size_t)n < size;
        size_t keep = fits ? (size_t)n : cs_utf8_truncate(text, size - 1);
        memcpy(out, text, keep);
        out[keep] = '\0';
        BIO_free(bio);
        return fits;
    }
    return false;
}

int cs_certificate_describe(X509 *cert, cs_signer *signer)
{
    signer->type = CS_SIGNER_X509;
    signer->subject_truncated = !describe_subject(cert, signer->subject, sizeof(signer->subject));
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (!pub || cs_key_id(pub, signer->key_id) < 0)
        return -EINVAL;
    uint8_t digest[CS_SHA256_LEN];
    unsigned int n = sizeof(digest);
    if (X509_digest(cert, EVP_sha256(), digest, &n) != 1)
        return -EINVAL;
    cs_hex_encode(digest, sizeof(digest), signer->cert_sha256);
    return 0;
}

/* Check the certificate path of leaf to a trust anchor, its dates and its
 * extended key usage. Sets signer->trusted and signer->trust_note. */
static void check_certificate(X509 *leaf, STACK_OF(X509) * untrusted, const cs_trust *trust,
                              cs_signer *signer)
{
    if (!trust->cas || sk_X509_num(trust->cas) == 0) {
        snprintf(signer->trust_note, sizeof(signer->trust_note),
                 "certificate '%s' cannot be checked: the trust configuration names no CA "
                 "certificate",
                 signer->subject);
        return;
    }
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!store || !ctx)
        goto out;
    for (int i = 0; i < sk_X509_num(trust->cas); i++)
        X509_STORE_add_cert(store, sk_X509_value(trust->cas, i));
    /* A CA listed in the trust configuration is an anchor even if it is an
     * intermediate, so administrators can trust one branch of a PKI. */
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
        goto out;
    if (X509_verify_cert(ctx) != 1) {
        int code = X509_STORE_CTX_get_error(ctx);
        snprintf(signer->trust_note, sizeof(signer->trust_note),
                 "certificate '%s' is not trusted: %s", signer->subject,
                 X509_verify_cert_error_string(code));
        goto out;
    }

    uint32_t ext = X509_get_extension_flags(leaf);
    if (!(ext & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN)) {
        snprintf(signer->trust_note, sizeof(signer->trust_note),
                 "certificate '%s' is not trusted: it lacks the codeSigning extended key usage",
                 signer->subject);
        goto out;
    }
    if ((ext & EXFLAG_KUSAGE) && !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE)) {
        snprintf(signer->trust_note, sizeof(signer->trust_note),
                 "certificate '%s' is not trusted: its key usage excludes digitalSignature",
                 signer->subject);
        goto out;
    }
    signer->trusted = true;
    snprintf(signer->trust_note, sizeof(signer->trust_note), "%s", signer->subject);
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
}

int cs_verify_cms(const uint8_t *der, size_t der_len, const char *domain, const void *data,
                  size_t len, const cs_trust *trust, cs_signer *signer, cs_error *err)
{
    memset(signer, 0, sizeof(*signer));
    signer->type = CS_SIGNER_X509;
    if (der_len > CS_SIGNATURE_MAX)
        return cs_error_set(err, CS_EVERIFY, "the CMS signature is larger than %d bytes",
                            CS_SIGNATURE_MAX);

    const unsigned char *p = der;
    cs_autocms CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
    if (!cms || p != der + der_len) {
        ERR_clear_error();
        return cs_error_set(err, CS_EVERIFY, "the signature is not a DER CMS structure");
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
        return cs_error_set(err, CS_EVERIFY, "the CMS signature is not SignedData");
    STACK_OF(CMS_SignerInfo) *infos = CMS_get0_SignerInfos(cms);
    if (sk_CMS_SignerInfo_num(infos) != 1)
        return cs_error_set(err, CS_EVERIFY,
                            "the CMS signature must have exactly one signer, it has %d",
                            sk_CMS_SignerInfo_num(infos));

    size_t msg_len;
    cs_autofree uint8_t *msg = with_domain(domain, data, len, &msg_len);
    if (!msg)
        return cs_error_set(err, ENOMEM, "out of memory");
    cs_autobio BIO *in = BIO_new_mem_buf(msg, (int)msg_len);
    /* The certificate path is checked below, with messages that name the
     * certificate and with the codeSigning purpose instead of S/MIME. */
    int flags = CMS_DETACHED | CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
    if (!in || CMS_verify(cms, NULL, NULL, in, NULL, flags) != 1) {
        ERR_clear_error();
        return cs_error_set(err, CS_EVERIFY, "the CMS signature does not match the package index");
    }

    STACK_OF(X509) *signers = CMS_get0_signers(cms);
    X509 *leaf = signers && sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : NULL;
    if (!leaf) {
        sk_X509_free(signers);
        return cs_error_set(err, CS_EVERIFY,
                            "the CMS signature does not carry its signer certificate");
    }
    if (cs_certificate_describe(leaf, signer) < 0) {
        sk_X509_free(signers);
        return cs_error_set(err, CS_EVERIFY, "cannot read the signer certificate's public key");
    }

    cs_autox509s STACK_OF(X509) *certs = CMS_get1_certs(cms);
    check_certificate(leaf, certs, trust, signer);
    sk_X509_free(signers);
    return 0;
}

int cs_load_certificate_chain(const char *path, STACK_OF(X509) * *out, cs_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file(path, CS_KEY_FILE_MAX, &data, &len, err);
    if (rc < 0)
        return rc;
    cs_autobio BIO *bio = BIO_new_mem_buf(data, (int)len);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cert;
    while (bio && chain && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(chain, cert))
            X509_free(cert);
    }
    free(data);
    ERR_clear_error();
    if (!chain || sk_X509_num(chain) == 0) {
        sk_X509_pop_free(chain, X509_free);
        return cs_error_set(err, EINVAL, "%s: no PEM certificate found", path);
    }
    *out = chain;
    return 0;
}

int cs_load_certificate(const char *path, X509 **out, cs_error *err)
{
    STACK_OF(X509) *chain = NULL;
    int rc = cs_load_certificate_chain(path, &chain, err);
    if (rc < 0)
        return rc;
    *out = sk_X509_shift(chain);
    sk_X509_pop_free(chain, X509_free);
    return 0;
}
