#include "app/utf16.h"

#define REPLACEMENT 0xFFFD

static size_t put_utf8(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

size_t cs_app_utf16_to_utf8(const uint16_t *in, size_t n, uint8_t *out)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = in[i];
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && in[i + 1] >= 0xDC00 &&
            in[i + 1] <= 0xDFFF) {
            /* A surrogate pair takes 2 code units and gives 4 bytes, within
             * the bound of 3 bytes per code unit. */
            cp = 0x10000 + ((cp - 0xD800) << 10) + (in[i + 1] - 0xDC00);
            i++;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = REPLACEMENT;
        }
        used += put_utf8(cp, out + used);
    }
    return used;
}

static size_t put_utf16(uint32_t cp, uint16_t *out)
{
    if (cp < 0x10000) {
        out[0] = (uint16_t)cp;
        return 1;
    }
    cp -= 0x10000;
    out[0] = (uint16_t)(0xD800 + (cp >> 10));
    out[1] = (uint16_t)(0xDC00 + (cp & 0x3FF));
    return 2;
}

size_t cs_app_utf8_to_utf16(const uint8_t *in, size_t len, uint16_t *out, bool *invalid)
{
    size_t used = 0;
    bool replaced = false;
    size_t i = 0;
    while (i < len) {
        uint8_t b = in[i];
        if (b < 0x80) {
            out[used++] = b;
            i++;
            continue;
        }

        /* Lead byte: the number of continuation bytes and the range the
         * first continuation byte must be in (which excludes overlong
         * forms, surrogates and code points above U+10FFFF). */
        size_t needed;
        uint32_t cp;
        uint8_t lower = 0x80, upper = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
            needed = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            needed = 2;
            cp = b & 0x0F;
            if (b == 0xE0)
                lower = 0xA0;
            else if (b == 0xED)
                upper = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            needed = 3;
            cp = b & 0x07;
            if (b == 0xF0)
                lower = 0x90;
            else if (b == 0xF4)
                upper = 0x8F;
        } else {
            out[used++] = REPLACEMENT;
            replaced = true;
            i++;
            continue;
        }

        size_t j = 1;
        for (; j <= needed; j++) {
            if (i + j >= len || in[i + j] < lower || in[i + j] > upper)
                break;
            cp = (cp << 6) | (in[i + j] & 0x3F);
            lower = 0x80;
            upper = 0xBF;
        }
        if (j <= needed) {
            /* The lead byte and the valid continuation bytes so far form
             * one maximal subpart; the byte that broke it is read again. */
            out[used++] = REPLACEMENT;
            replaced = true;
            i += j;
            continue;
        }
        /* A 4-byte sequence gives 2 code units, within len. */
        used += put_utf16(cp, out + used);
        i += needed + 1;
    }
    if (invalid)
        *invalid = replaced;
    return used;
}
