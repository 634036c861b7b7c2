/* The update rules that need no network: update windows, staged rollout
 * buckets, the machine id and status names. */
#include "update/client.h"

#include "common/fsutil.h"
#include "crypto/digest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cs_update_status_name(cs_update_status status)
{
    switch (status) {
    case CS_UPDATE_CURRENT:
        return "current";
    case CS_UPDATE_AVAILABLE:
        return "available";
    case CS_UPDATE_INSTALLED:
        return "installed";
    case CS_UPDATE_STAGED:
        return "staged";
    case CS_UPDATE_PINNED:
        return "pinned";
    case CS_UPDATE_OUTSIDE_WINDOW:
        return "outside-window";
    case CS_UPDATE_NOT_IN_ROLLOUT:
        return "not-in-rollout";
    case CS_UPDATE_HELD:
        return "held";
    case CS_UPDATE_FAILED:
        return "failed";
    }
    return "unknown";
}

/* Parse "HH:MM" at s into minutes after midnight. */
static bool parse_clock(const char *s, int *minutes)
{
    for (int i = 0; i < 5; i++) {
        if (i == 2 ? s[i] != ':' : !isdigit((unsigned char)s[i]))
            return false;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return false;
    *minutes = h * 60 + m;
    return true;
}

static bool parse_window(const char *window, int *start, int *end)
{
    return strlen(window) == 11 && window[5] == '-' && parse_clock(window, start) &&
           parse_clock(window + 6, end);
}

bool cs_update_window_valid(const char *window)
{
    int start, end;
    return window[0] == '\0' || parse_window(window, &start, &end);
}

bool cs_update_in_window(const char *window, time_t now)
{
    if (window[0] == '\0')
        return true;
    int start, end;
    if (!parse_window(window, &start, &end))
        return false;
    if (start == end)
        return true;
    struct tm tm;
    localtime_r(&now, &tm);
    int t = tm.tm_hour * 60 + tm.tm_min;
    if (start < end)
        return t >= start && t < end;
    return t >= start || t < end;
}

unsigned cs_update_rollout_bucket(const char *machine_id, const char *app_id)
{
    static const char domain[] = "cashstory-rollout";
    cs_sha256_ctx *ctx = cs_sha256_new();
    uint8_t digest[CS_SHA256_LEN] = {0};
    if (ctx) {
        cs_sha256_update(ctx, domain, sizeof(domain)); /* with its NUL */
        cs_sha256_update(ctx, machine_id, strlen(machine_id) + 1);
        cs_sha256_update(ctx, app_id, strlen(app_id));
        cs_sha256_final(ctx, digest);
        cs_sha256_free(ctx);
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | digest[i];
    return (unsigned)(v % 10000);
}

bool cs_update_in_rollout(const char *machine_id, const char *app_id, unsigned percent)
{
    if (percent >= 100)
        return true;
    return cs_update_rollout_bucket(machine_id, app_id) < percent * 100;
}

int cs_update_machine_id(char out[129], cs_error *err)
{
    const char *env = getenv("CASHSTORY_MACHINE_ID");
    if (env && *env) {
        if (strlen(env) > 128)
            return cs_error_set(err, EINVAL, "$CASHSTORY_MACHINE_ID is longer than 128 bytes");
        snprintf(out, 129, "%s", env);
        return 0;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file("/etc/machine-id", 4096, &data, &len, err);
    if (rc < 0)
        return cs_error_prefix(err, "machine id for the staged rollout");
    size_t n = strcspn((const char *)data, "\r\n");
    if (n == 0 || n > 128) {
        free(data);
        return cs_error_set(err, EINVAL, "/etc/machine-id does not hold a machine id");
    }
    snprintf(out, 129, "%.*s", (int)n, (const char *)data);
    free(data);
    return 0;
}
