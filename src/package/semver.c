#include "package/semver.h"

#include <ctype.h>
#include <stdio.h>
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

/* Version ranges. Each comparator becomes at most two bounds, which are
 * checked at once, so validation and matching share one parser. */

enum bound_op { BOUND_EQ, BOUND_GT, BOUND_GE, BOUND_LT, BOUND_LE, BOUND_NONE };

typedef struct bound {
    enum bound_op op;
    char version[CS_VERSION_MAX + 1];
} bound;

/* A comparator after parsing: its bounds, and the MAJOR.MINOR.PATCH of a
 * prerelease it names ("" when it names none). */
typedef struct comparator {
    bound bounds[2];
    int nbounds;
    char prerelease_core[CS_VERSION_MAX + 1];
} comparator;

static bool is_wildcard(const char *s, size_t n)
{
    return n == 1 && (*s == '*' || *s == 'x' || *s == 'X');
}

/* Parse one number of a partial version, without leading zeros and with at
 * most 18 digits so that adding one cannot overflow. */
static bool parse_number(const char *s, size_t n, unsigned long long *out)
{
    if (n == 0 || n > 18 || (s[0] == '0' && n > 1))
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    *out = v;
    return true;
}

static void add_bound(comparator *c, enum bound_op op, unsigned long long major,
                      unsigned long long minor, unsigned long long patch)
{
    bound *b = &c->bounds[c->nbounds++];
    b->op = op;
    snprintf(b->version, sizeof(b->version), "%llu.%llu.%llu", major, minor, patch);
}

/* Parse the comparator text[0..len) into c. Returns false on a syntax error. */
static bool parse_comparator(const char *text, size_t len, comparator *c)
{
    memset(c, 0, sizeof(*c));
    const char *p = text, *end = text + len;
    char op[3] = "";
    size_t op_len = 0;
    while (p < end && op_len < 2 && *p && strchr("=<>^~", *p))
        op[op_len++] = *p++;
    op[op_len] = '\0';
    if (op_len > 0 && strcmp(op, "=") != 0 && strcmp(op, ">") != 0 && strcmp(op, ">=") != 0 &&
        strcmp(op, "<") != 0 && strcmp(op, "<=") != 0 && strcmp(op, "^") != 0 &&
        strcmp(op, "~") != 0)
        return false;
    if (p == end)
        return false;

    /* Up to three dot-separated parts. After a wildcard, every part must be one. */
    unsigned long long part[3] = {0, 0, 0};
    int nparts = 0;
    bool wildcard = false;
    const char *q = p;
    for (int i = 0; i < 3 && q < end; i++) {
        size_t n = strcspn(q, ".-+");
        if (q + n > end)
            n = (size_t)(end - q);
        if (is_wildcard(q, n))
            wildcard = true;
        else if (wildcard || !parse_number(q, n, &part[i]))
            return false;
        else
            nparts++;
        q += n;
        if (i < 2 && q < end && *q == '.') {
            q++;
            if (q == end)
                return false;
        } else {
            break;
        }
    }
    if (q < end) {
        /* Only a full version may carry a prerelease or build part. */
        if (nparts != 3 || (*q != '-' && *q != '+'))
            return false;
    }

    char exact[CS_VERSION_MAX + 1] = "";
    if (nparts == 3) {
        size_t n = (size_t)(end - p);
        if (n > CS_VERSION_MAX)
            return false;
        memcpy(exact, p, n);
        exact[n] = '\0';
        if (!cs_semver_valid(exact))
            return false;
        /* Build metadata plays no part in precedence. */
        char *plus = strchr(exact, '+');
        if (plus)
            *plus = '\0';
        char *dash = strchr(exact, '-');
        if (dash) {
            snprintf(c->prerelease_core, sizeof(c->prerelease_core), "%.*s", (int)(dash - exact),
                     exact);
        }
    }

    unsigned long long major = part[0], minor = part[1], patch = part[2];
    bool plain = op_len == 0 || strcmp(op, "=") == 0;
    if (nparts == 0) {
        /* "*", ">=*", "<=*", "^*" and "~*" allow everything; "<*" and ">*"
         * allow nothing. */
        if (strcmp(op, "<") == 0 || strcmp(op, ">") == 0)
            c->bounds[c->nbounds++].op = BOUND_NONE;
        return true;
    }
    if (nparts == 3 && (plain || op[0] == '<' || op[0] == '>')) {
        enum bound_op kind = plain                   ? BOUND_EQ
                             : strcmp(op, ">") == 0  ? BOUND_GT
                             : strcmp(op, ">=") == 0 ? BOUND_GE
                             : strcmp(op, "<") == 0  ? BOUND_LT
                                                     : BOUND_LE;
        bound *b = &c->bounds[c->nbounds++];
        b->op = kind;
        snprintf(b->version, sizeof(b->version), "%s", exact);
        return true;
    }

    /* The lowest version the partial names, and the first version past
     * what it leaves open. */
    unsigned long long next_major = major + 1, next_minor = nparts >= 2 ? minor + 1 : 0;
    if (strcmp(op, ">") == 0) {
        if (nparts == 1)
            add_bound(c, BOUND_GE, next_major, 0, 0);
        else
            add_bound(c, BOUND_GE, major, next_minor, 0);
        return true;
    }
    if (strcmp(op, ">=") == 0) {
        add_bound(c, BOUND_GE, major, minor, 0);
        return true;
    }
    if (strcmp(op, "<") == 0) {
        add_bound(c, BOUND_LT, major, minor, 0);
        return true;
    }
    if (strcmp(op, "<=") == 0) {
        if (nparts == 1)
            add_bound(c, BOUND_LT, next_major, 0, 0);
        else
            add_bound(c, BOUND_LT, major, next_minor, 0);
        return true;
    }

    /* Lower bound of "=", "^" and "~": the version itself or its partial. */
    if (nparts == 3) {
        bound *b = &c->bounds[c->nbounds++];
        b->op = BOUND_GE;
        snprintf(b->version, sizeof(b->version), "%s", exact);
    } else {
        add_bound(c, BOUND_GE, major, minor, 0);
    }
    if (plain || op[0] == '~') {
        if (nparts == 1)
            add_bound(c, BOUND_LT, next_major, 0, 0);
        else
            add_bound(c, BOUND_LT, major, minor + 1, 0);
    } else if (major > 0 || nparts == 1) {
        add_bound(c, BOUND_LT, next_major, 0, 0);
    } else if (minor > 0 || nparts == 2) {
        add_bound(c, BOUND_LT, 0, minor + 1, 0);
    } else {
        add_bound(c, BOUND_LT, 0, 0, patch + 1);
    }
    return true;
}

static bool bound_holds(const bound *b, const char *version)
{
    if (b->op == BOUND_NONE)
        return false;
    int c = cs_semver_compare(version, b->version);
    switch (b->op) {
    case BOUND_EQ:
        return c == 0;
    case BOUND_GT:
        return c > 0;
    case BOUND_GE:
        return c >= 0;
    case BOUND_LT:
        return c < 0;
    case BOUND_LE:
        return c <= 0;
    default:
        return false;
    }
}

/* Parse the alternative text[0..len); when version is not NULL, set
 * *matches to whether it holds for version, whose MAJOR.MINOR.PATCH is core
 * and which is a prerelease when prerelease is set. */
static bool eval_alternative(const char *text, size_t len, const char *version, const char *core,
                             bool prerelease, bool *matches)
{
    bool all = true, prerelease_named = false;
    size_t count = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t n = 0;
        while (p + n < end && p[n] != ' ')
            n++;
        comparator c;
        if (!parse_comparator(p, n, &c))
            return false;
        count++;
        if (version) {
            for (int i = 0; i < c.nbounds; i++)
                all = all && bound_holds(&c.bounds[i], version);
            if (c.prerelease_core[0] && strcmp(c.prerelease_core, core) == 0)
                prerelease_named = true;
        }
        p += n;
    }
    if (count == 0)
        return false;
    if (version)
        *matches = all && (!prerelease || prerelease_named);
    return true;
}

/* Walk the alternatives of range; with version, set *matches when one of
 * them allows it. Returns false when the range is invalid. */
static bool eval_range(const char *range, const char *version, bool *matches)
{
    if (strnlen(range, CS_SEMVER_RANGE_MAX + 1) > CS_SEMVER_RANGE_MAX)
        return false;
    for (const char *s = range; *s; s++) {
        if (*s != ' ' && *s != '|' && !isalnum((unsigned char)*s) && !strchr("<>=^~.-+*", *s))
            return false;
    }

    char core[CS_VERSION_MAX + 1] = "";
    bool prerelease = false;
    if (version) {
        if (!cs_semver_valid(version))
            return false;
        size_t n = strcspn(version, "-+");
        snprintf(core, sizeof(core), "%.*s", (int)n, version);
        prerelease = version[n] == '-';
    }

    if (range[strspn(range, " ")] == '\0') {
        /* An empty range allows every version except prereleases. */
        if (version)
            *matches = !prerelease;
        return true;
    }

    bool any = false;
    const char *p = range;
    for (;;) {
        const char *bar = strstr(p, "||");
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (memchr(p, '|', n))
            return false;
        bool m = false;
        if (!eval_alternative(p, n, version, core, prerelease, &m))
            return false;
        any = any || m;
        if (!bar)
            break;
        p = bar + 2;
    }
    if (version)
        *matches = any;
    return true;
}

bool cs_semver_range_valid(const char *range)
{
    return eval_range(range, NULL, NULL);
}

bool cs_semver_range_match(const char *range, const char *version)
{
    bool matches = false;
    return eval_range(range, version, &matches) && matches;
}
