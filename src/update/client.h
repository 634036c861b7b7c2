/* The update client: brings installed apps to the versions that policy
 * selects from a signed repository (docs/update.md describes the rules).
 *
 * One run takes the time once and checks every metadata file against it.
 * It refreshes each repository's metadata as docs/repository.md prescribes
 * (root chain, timestamp, snapshot, targets, delegations) and keeps the last
 * trusted files under STORE/update/repos/NAME/. Then it chooses a version
 * per app from the channel, pinned version, range, minimum, window, staged
 * rollout and earlier rollbacks. It downloads only the files that neither
 * the installed version nor the blob cache has, and installs the new version
 * atomically next to the old one.
 *
 * State below the store folder:
 *   update/lock                   flock(2) lock of update runs and rollbacks
 *   update/repos/NAME/            last trusted root, timestamp, snapshot, targets
 *   update/blobs/sha256/HEX       verified downloads (and HEX.part while in progress)
 *   update/staging/ID-VERSION/    the package being assembled
 *   update/apps/ID.json           versions rolled back, and the last update */
#pragma once

#include "common/error.h"
#include "crypto/trust.h"
#include "package/manifest.h"
#include "package/semver.h"
#include "policy/policy.h"
#include "update/runtime.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum cs_update_status {
    CS_UPDATE_CURRENT,        /* the installed version is the one policy selects */
    CS_UPDATE_AVAILABLE,      /* --check: the selected version would be installed */
    CS_UPDATE_INSTALLED,      /* the selected version was installed */
    CS_UPDATE_STAGED,         /* downloaded; becomes current when the app next starts */
    CS_UPDATE_PINNED,         /* policy pins the installed version; a newer one exists */
    CS_UPDATE_OUTSIDE_WINDOW, /* the update window is closed now */
    CS_UPDATE_NOT_IN_ROLLOUT, /* this desktop is outside the staged rollout */
    CS_UPDATE_HELD,           /* range, minimum, runtime or a rollback keeps it back */
    CS_UPDATE_FAILED,         /* an error stopped this app's update */
} cs_update_status;

/* Name of a status for output: "current", "available", "installed", ... */
const char *cs_update_status_name(cs_update_status status);

/* The outcome for one app. */
typedef struct cs_update_app {
    char id[CS_APP_ID_MAX + 1];
    char repository[64];
    char channel[64];
    char installed[CS_VERSION_MAX + 1]; /* "" when not installed */
    char target[CS_VERSION_MAX + 1];    /* version policy selects, "" when none */
    cs_update_status status;
    char reason[1024]; /* one sentence: why this status */
    int error;         /* negative code when status is CS_UPDATE_FAILED */
    bool policy_error; /* held because a policy setting for the app is invalid */
    uint64_t bytes_downloaded;
    unsigned files_total;      /* files of the selected version */
    unsigned files_downloaded; /* fetched from the repository */
    unsigned files_reused;     /* copied from the installed version or the blob cache */
} cs_update_app;

typedef struct cs_update_request {
    const char *store;
    const cs_policy *policy;
    const char *policy_location; /* where policy was read, for messages; may be NULL */
    const cs_trust *trust;
    char *const *ids; /* apps to update (installed or not); all installed apps when nids is 0 */
    size_t nids;
    bool check_only;        /* report what would change; download and install nothing */
    time_t now;             /* start time of the run; 0 for the current time */
    const char *machine_id; /* staged rollout; NULL for cs_update_machine_id() */
    /* Progress lines ("downloading ..."), or NULL. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} cs_update_request;

/* Run the update for the requested apps. Returns 0 when the run took place,
 * with one entry per app in *apps, which the caller frees with free(). An
 * app that failed has status CS_UPDATE_FAILED and its own error. Returns a
 * negative code when the run could not start (store lock, store list). */
int cs_update_run(const cs_update_request *request, cs_update_app **apps, size_t *count,
                  cs_error *err);

/* Roll id back to its previous version and record the version it leaves as
 * rolled back, so that later runs skip it until the repository offers a
 * newer one. reason is stored with it. *from and *to receive the versions. */
int cs_update_rollback(const char *store, const char *id, const char *reason, char **from,
                       char **to, cs_error *err);

/* Record that id started at version and ran past the grace period, or
 * (failed) that it ended abnormally within it. The last update of id is
 * looked up in STORE/update/apps/ID.json. *should_roll_back is set when the
 * failing version is the one the last update installed less than
 * grace_seconds before the start. */
int cs_update_note_exit(const char *store, const char *id, const char *version, time_t started,
                        time_t ended, bool failed, unsigned grace_seconds, bool *should_roll_back,
                        cs_error *err);

/* True when window ("HH:MM-HH:MM" in local time, "" for always) is open at
 * now. A window whose end is before its start crosses midnight
 * ("22:00-06:00"); equal start and end mean the whole day. */
bool cs_update_in_window(const char *window, time_t now);

/* True when window is "" or has the form above with hours 00-23 and
 * minutes 00-59. */
bool cs_update_window_valid(const char *window);

/* The staged-rollout bucket of this desktop for app_id, 0 to 9999: the
 * first 8 bytes of SHA-256("cashstory-rollout" NUL machine_id NUL app_id)
 * as a big-endian number, modulo 10000. The desktop takes new versions
 * when the bucket is below rollout_percent * 100, so raising the
 * percentage only adds desktops. */
unsigned cs_update_rollout_bucket(const char *machine_id, const char *app_id);
bool cs_update_in_rollout(const char *machine_id, const char *app_id, unsigned percent);

/* The desktop's machine id: $CASHSTORY_MACHINE_ID when it is set and not
 * empty (for tests and fleet simulations), else the first line of
 * /etc/machine-id. */
int cs_update_machine_id(char out[129], cs_error *err);
