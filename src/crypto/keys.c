#include "crypto/keys.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "crypto/digest.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <string.h>

int cs_key_id(EVP_PKEY *key, char out[CS_KEY_ID_HEX_LEN + 1])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    if (len <= 0)
        return -EINVAL;
    uint8_t digest[CS_SHA256_LEN];
    cs_sha256(der, (size_t)len, digest);
    OPENSSL_free(der);
    cs_hex_encode(digest, sizeof(digest), out);
    return 0;
}

int cs_key_public_pem(EVP_PKEY *key, char **pem, size_t *len, cs_error *err)
{
    cs_autobio BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1)
        return cs_error_openssl(err, EIO, "cannot encode the public key");
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)n + 1);
    if (!copy)
        return cs_error_set(err, ENOMEM, "out of memory");
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *pem = copy;
    *len = (size_t)n;
    return 0;
}

int cs_key_generate(const char *base, char key_id[CS_KEY_ID_HEX_LEN + 1], cs_error *err)
{
    size_t n = strlen(base) + 5;
    cs_autofree char *key_path = malloc(n);
    cs_autofree char *pub_path = malloc(n);
    if (!key_path || !pub_path)
        return cs_error_set(err, ENOMEM, "out of memory");
    snprintf(key_path, n, "%s.key", base);
    snprintf(pub_path, n, "%s.pub", base);
    if (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0)
        return cs_error_set(err, EEXIST,
                            "%s.key or %s.pub already exists; remove it or choose another --out",
                            base, base);

    cs_autopkey EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key)
        return cs_error_openssl(err, EIO, "cannot generate an Ed25519 key");

    cs_autobio BIO *priv = BIO_new(BIO_s_secmem());
    if (!priv || PEM_write_bio_PrivateKey(priv, key, NULL, NULL, 0, NULL, NULL) != 1)
        return cs_error_openssl(err, EIO, "cannot encode the private key");
    char *priv_data;
    long priv_len = BIO_get_mem_data(priv, &priv_data);

    cs_autofree char *pub_pem = NULL;
    size_t pub_len;
    int rc = cs_key_public_pem(key, &pub_pem, &pub_len, err);
    if (rc < 0)
        return rc;

    rc = cs_write_file_exclusive(key_path, priv_data, (size_t)priv_len, 0600, err);
    OPENSSL_cleanse(priv_data, (size_t)priv_len);
    if (rc < 0)
        return rc;
    rc = cs_write_file_exclusive(pub_path, pub_pem, pub_len, 0644, err);
    if (rc < 0) {
        unlink(key_path);
        return rc;
    }
    return cs_key_id(key, key_id) < 0 ? cs_error_set(err, EIO, "cannot compute the key id") : 0;
}

/* Encrypted keys are not supported; fail instead of prompting on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int cs_key_load_private(const char *path, EVP_PKEY **out, cs_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file(path, CS_KEY_FILE_MAX, &data, &len, err);
    if (rc < 0)
        return rc;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(data, len);
    free(data);
    if (!key)
        return cs_error_openssl(err, EINVAL, "not an unencrypted PEM private key");
    *out = key;
    return 0;
}

int cs_key_parse_public(const void *pem, size_t len, EVP_PKEY **out, cs_error *err)
{
    if (len > CS_KEY_FILE_MAX)
        return cs_error_set(err, EFBIG, "public key is larger than %d bytes", CS_KEY_FILE_MAX);
    cs_autobio BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    if (!key)
        return cs_error_openssl(err, EINVAL, "not a PEM public key");
    *out = key;
    return 0;
}

int cs_key_load_public(const char *path, EVP_PKEY **out, cs_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file(path, CS_KEY_FILE_MAX, &data, &len, err);
    if (rc < 0)
        return rc;

    EVP_PKEY *key = NULL;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (strstr((char *)data, "-----BEGIN PUBLIC KEY-----")) {
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    } else if (strstr((char *)data, "-----BEGIN CERTIFICATE-----")) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert)
            key = X509_get_pubkey(cert);
        X509_free(cert);
    } else if (strstr((char *)data, "PRIVATE KEY-----")) {
        key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    }
    BIO_free(bio);
    OPENSSL_cleanse(data, len);
    free(data);
    if (!key)
        return cs_error_openssl(err, EINVAL, "not a PEM public key, private key or certificate");
    *out = key;
    return 0;
}
