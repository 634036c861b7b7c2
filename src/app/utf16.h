/* Conversions between UTF-8 bytes and the UTF-16 code units of JavaScript
 * strings, following the WHATWG Encoding Standard. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bound of the UTF-8 bytes that n UTF-16 code units produce. */
#define CS_APP_UTF8_MAX_FOR_UTF16(n) ((n)*3)

/* Encode n UTF-16 code units as UTF-8 into out, which has room for at least
 * CS_APP_UTF8_MAX_FOR_UTF16(n) bytes. A lone surrogate becomes U+FFFD, as
 * TextEncoder does. Returns the number of bytes written. */
size_t cs_app_utf16_to_utf8(const uint16_t *in, size_t n, uint8_t *out);

/* Decode len bytes of UTF-8 into out, which has room for len code units.
 * Each maximal invalid subsequence becomes one U+FFFD, as TextDecoder does.
 * Returns the number of code units written. *invalid (may be NULL) is set
 * when a replacement happened. */
size_t cs_app_utf8_to_utf16(const uint8_t *in, size_t len, uint16_t *out, bool *invalid);
