#include "update/runtime.h"

#include "package/store.h"
#include "package/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cs_runtime_select(const char *store, const char *range, const cs_trust *trust,
                      const char *builtin_host, cs_runtime_choice *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!cs_semver_range_valid(range))
        return cs_error_set(err, EINVAL, "'%s' is not a version range", range);

    /* Candidates: this build's runtime, then the installed packages. */
    struct candidate {
        char *version;
        char *dir; /* NULL for this build's runtime */
    } candidates[3] = {{CS_VERSION, NULL}, {NULL, NULL}, {NULL, NULL}};
    size_t n = 1;
    static const char *const links[] = {"current", "previous"};
    for (size_t i = 0; i < 2; i++) {
        if (cs_store_link_version(store, CS_RUNTIME_APP_ID, links[i], &candidates[n].dir,
                                  &candidates[n].version, NULL) == 0)
            n++;
    }

    const struct candidate *best = NULL;
    char available[512] = "";
    for (size_t i = 0; i < n; i++) {
        const struct candidate *c = &candidates[i];
        size_t used = strlen(available);
        snprintf(available + used, sizeof(available) - used, "%s%s%s", used ? ", " : "", c->version,
                 c->dir ? "" : " (built in)");
        if (cs_semver_range_match(range, c->version) &&
            (!best || cs_semver_compare(c->version, best->version) > 0))
            best = c;
    }

    int rc = 0;
    if (!best) {
        rc = cs_error_set(err, ENOENT, "no runtime satisfies '%s'; available: %s (update %s)",
                          range, available, CS_RUNTIME_APP_ID);
        goto out;
    }
    snprintf(out->version, sizeof(out->version), "%s", best->version);
    out->installed = best->dir != NULL;
    if (!best->dir) {
        snprintf(out->host, sizeof(out->host), "%s", builtin_host);
        goto out;
    }
    snprintf(out->host, sizeof(out->host), "%s/%s", best->dir, CS_RUNTIME_HOST_PATH);
    if (trust) {
        cs_verify_result res;
        rc = cs_verify_dir(best->dir, trust, &res, err);
        cs_verify_result_free(&res);
        if (rc < 0) {
            cs_error_prefix(err, "runtime %s", best->version);
            goto out;
        }
    }
    if (access(out->host, X_OK) < 0)
        rc = cs_error_set(err, ENOENT, "runtime %s has no executable %s", best->version,
                          CS_RUNTIME_HOST_PATH);

out:
    for (size_t i = 1; i < n; i++) {
        free(candidates[i].version);
        free(candidates[i].dir);
    }
    return rc;
}
