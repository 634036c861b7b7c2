/* SHA-256 digests and constant-time comparison. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_SHA256_LEN 32
#define CS_SHA256_HEX_LEN 64

typedef struct cs_sha256_ctx cs_sha256_ctx;

cs_sha256_ctx *cs_sha256_new(void);
void cs_sha256_update(cs_sha256_ctx *ctx, const void *data, size_t len);
void cs_sha256_final(cs_sha256_ctx *ctx, uint8_t out[CS_SHA256_LEN]);
void cs_sha256_free(cs_sha256_ctx *ctx);

void cs_sha256(const void *data, size_t len, uint8_t out[CS_SHA256_LEN]);

/* Hash the open file fd from its current offset to its end. Reads fail with
 * -EFBIG once more than max_bytes have been read. *size receives the number of
 * bytes hashed. */
int cs_sha256_fd(int fd, uint64_t max_bytes, uint8_t out[CS_SHA256_LEN], uint64_t *size);

/* Same as cs_sha256_fd, reading through the caller's buffer of buf_size
 * bytes, so that a thread hashing many files allocates once. */
int cs_sha256_fd_buffer(int fd, uint64_t max_bytes, uint8_t *buf, size_t buf_size,
                        uint8_t out[CS_SHA256_LEN], uint64_t *size);

/* Constant-time equality of two digests. */
bool cs_digest_equal(const uint8_t a[CS_SHA256_LEN], const uint8_t b[CS_SHA256_LEN]);
