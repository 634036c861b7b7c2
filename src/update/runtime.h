/* Runtime versions side by side: the runtime of this build (CS_VERSION)
 * and the runtime packages installed in the store under the app id
 * io.cashstory.runtime ("current" and "previous"). A runtime package has
 * its app host at bin/cashstory-app (mode 0755) and reaches desktops
 * through the same repositories and policy as apps. docs/update.md
 * describes how apps choose one. */
#pragma once

#include "common/error.h"
#include "crypto/trust.h"
#include "package/semver.h"

#include <limits.h>
#include <stdbool.h>

#define CS_RUNTIME_APP_ID "io.cashstory.runtime"
#define CS_RUNTIME_HOST_PATH "bin/cashstory-app"

typedef struct cs_runtime_choice {
    char version[CS_VERSION_MAX + 1];
    char host[PATH_MAX]; /* the app host program of that runtime */
    bool installed;      /* a runtime package, not this build's runtime */
} cs_runtime_choice;

/* Choose the newest runtime whose version satisfies range: this build's,
 * whose app host is builtin_host, or an installed runtime package. With
 * trust, the chosen package is verified like an installed app first; with
 * trust NULL, only versions are compared. Returns -ENOENT, with a message
 * that lists the available versions, when none satisfies range. */
int cs_runtime_select(const char *store, const char *range, const cs_trust *trust,
                      const char *builtin_host, cs_runtime_choice *out, cs_error *err);
