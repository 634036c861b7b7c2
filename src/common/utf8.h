/* UTF-8 validation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Length of the UTF-8 sequence that starts at s (at most max bytes), or 0 when
 * it is invalid: overlong forms, surrogates and code points above U+10FFFF are
 * invalid. */
size_t cs_utf8_sequence_length(const unsigned char *s, size_t max);

/* True when the len bytes at s are valid UTF-8. */
bool cs_utf8_valid(const char *s, size_t len);

/* Largest n <= len such that the first n bytes of s do not end inside a
 * multi-byte sequence, for truncating valid UTF-8 text. */
size_t cs_utf8_truncate(const char *s, size_t len);
