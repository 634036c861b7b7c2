#include "package/semver.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '-';
}

/* Check a numeric part without leading zeros; advance *p past it. */
static bool numeric(const char **p)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return false;
    if (s[0] == '0' && isdigit((unsigned char)s[1]))
        return false;
    size_t n = 0;
    while (isdigit((unsigned char)s[n]))
        n++;
    if (n > 18)
        return false;
    *p = s + n;
    return true;
}

/* Check dot-separated identifiers up to end; with strict_numbers, purely
 * numeric identifiers may not have leading zeros. */
static bool identifiers(const char *s, const char *end, bool strict_numbers)
{
    if (s == end)
        return false;
    while (s < end) {
        const char *start = s;
        bool all_digits = true;
        while (s < end && *s != '.') {
            if (!is_ident_char(*s))
                return false;
            if (!isdigit((unsigned char)*s))
                all_digits = false;
            s++;
        }
        if (s == start)
            return false;
        if (strict_numbers && all_digits && start[0] == '0' && s - start > 1)
            return false;
        if (s < end) {
            s++;
            if (s == end)
                return false;
        }
    }
    return true;
}

bool cs_semver_valid(const char *text)
{
    if (strnlen(text, CS_VERSION_MAX + 1) > CS_VERSION_MAX)
        return false;
    const char *p = text;
    if (!numeric(&p) || *p++ != '.' || !numeric(&p) || *p++ != '.' || !numeric(&p))
        return false;
    const char *plus = strchr(p, '+');
    const char *end = plus ? plus : p + strlen(p);
    if (*p == '-') {
        if (!identifiers(p + 1, end, true))
            return false;
    } else if (p != end) {
        return false;
    }
    if (plus && !identifiers(plus + 1, plus + strlen(plus), false))
        return false;
    return true;
}

static int compare_numbers(const char *a, size_t la, const char *b, size_t lb)
{
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = memcmp(a, b, la);
    return c < 0 ? -1 : c > 0;
}

int cs_semver_compare(const char *a, const char *b)
{
    /* Core: three numbers. */
    for (int part = 0; part < 3; part++) {
        size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
        int c = compare_numbers(a, la, b, lb);
        if (c)
            return c;
        a += la;
        b += lb;
        if (part < 2) {
            a++;
            b++;
        }
    }
    bool pa = *a == '-', pb = *b == '-';
    if (!pa || !pb) {
        /* A version without prerelease ranks above one with it. */
        return pa == pb ? 0 : (pa ? -1 : 1);
    }
    a++;
    b++;
    for (;;) {
        size_t la = strcspn(a, ".+"), lb = strcspn(b, ".+");
        bool na = strspn(a, "0123456789") == la, nb = strspn(b, "0123456789") == lb;
        int c;
        if (na && nb)
            c = compare_numbers(a, la, b, lb);
        else if (na != nb)
            c = na ? -1 : 1;
        else {
            size_t m = la < lb ? la : lb;
            c = memcmp(a, b, m);
            if (c == 0 && la != lb)
                c = la < lb ? -1 : 1;
            else if (c != 0)
                c = c < 0 ? -1 : 1;
        }
        if (c)
            return c;
        a += la;
        b += lb;
        bool ma = *a == '.', mb = *b == '.';
        if (!ma || !mb)
            return ma == mb ? 0 : (ma ? 1 : -1);
        a++;
        b++;
    }
}
