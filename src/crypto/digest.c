#include "crypto/digest.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

struct cs_sha256_ctx {
    EVP_MD_CTX *md;
};

cs_sha256_ctx *cs_sha256_new(void)
{
    cs_sha256_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->md = EVP_MD_CTX_new();
    if (!ctx->md || EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1) {
        cs_sha256_free(ctx);
        return NULL;
    }
    return ctx;
}

void cs_sha256_update(cs_sha256_ctx *ctx, const void *data, size_t len)
{
    EVP_DigestUpdate(ctx->md, data, len);
}

void cs_sha256_final(cs_sha256_ctx *ctx, uint8_t out[CS_SHA256_LEN])
{
    unsigned int n = CS_SHA256_LEN;
    EVP_DigestFinal_ex(ctx->md, out, &n);
}

void cs_sha256_free(cs_sha256_ctx *ctx)
{
    if (!ctx)
        return;
    EVP_MD_CTX_free(ctx->md);
    free(ctx);
}

void cs_sha256(const void *data, size_t len, uint8_t out[CS_SHA256_LEN])
{
    unsigned int n = CS_SHA256_LEN;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

int cs_sha256_fd_buffer(int fd, uint64_t max_bytes, uint8_t *buf, size_t buf_size,
                        uint8_t out[CS_SHA256_LEN], uint64_t *size)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -ENOMEM;
    }
    int rc = 0;
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, buf_size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > max_bytes) {
            rc = -EFBIG;
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
    }
    if (rc == 0) {
        unsigned int len = CS_SHA256_LEN;
        EVP_DigestFinal_ex(md, out, &len);
        *size = total;
    }
    EVP_MD_CTX_free(md);
    return rc;
}

int cs_sha256_fd(int fd, uint64_t max_bytes, uint8_t out[CS_SHA256_LEN], uint64_t *size)
{
    enum { CHUNK = 256 * 1024 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    int rc = cs_sha256_fd_buffer(fd, max_bytes, buf, CHUNK, out, size);
    free(buf);
    return rc;
}

bool cs_digest_equal(const uint8_t a[CS_SHA256_LEN], const uint8_t b[CS_SHA256_LEN])
{
    return CRYPTO_memcmp(a, b, CS_SHA256_LEN) == 0;
}
