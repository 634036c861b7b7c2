/* Lowercase hexadecimal encoding of byte strings. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Write 2 * len hex digits and a terminating NUL to out. */
void cs_hex_encode(const uint8_t *bytes, size_t len, char *out);

/* Decode exactly 2 * len lowercase hex digits from text into out.
 * Returns 0, or -EINVAL when text has another length or a non-hex digit. */
int cs_hex_decode(const char *text, uint8_t *out, size_t len);
