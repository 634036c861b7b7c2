/* The installed-app store.
 *
 * Layout below the store folder:
 *   lock                      taken (flock) by every command that changes the store
 *   tmp/                      staging; leftovers of interrupted commands are removed
 *   apps/<id>/current         symbolic link to the installed version folder
 *   apps/<id>/previous        symbolic link to the version it replaced, if any
 *   apps/<id>/<version>-<random>/   read-only files plus .cashstory/ (index,
 *                             signature, signer key, origin.json)
 *
 * An install extracts into tmp/, then renames the finished folder into
 * apps/<id>/ and replaces the "current" link with rename(2). A crash at any
 * point leaves either the old link or the new one. The next command that
 * takes the lock removes folders that no link names. */
#pragma once

#include "common/error.h"
#include "crypto/trust.h"
#include "package/verify.h"

#include <stddef.h>

#define CS_STORE_DEFAULT "/var/lib/cashstory"
#define CS_VERSION_DIR_MAX 160

typedef struct cs_installed_app {
    char *id;
    char *version;
    char *name;
    char *signer; /* key id or certificate subject */
    char *origin; /* URL the package was installed from */
    char *path;   /* version folder */
} cs_installed_app;

/* Verify the archive at csa_path against trust and install it. result
 * receives the verification details either way. */
int cs_store_install(const char *store, const char *csa_path, const cs_trust *trust,
                     cs_verify_result *result, cs_error *err);

/* The folder of the installed version of id (a new string). */
int cs_store_app_path(const char *store, const char *id, char **path, cs_error *err);

/* Installed apps sorted by id. */
int cs_store_list(const char *store, cs_installed_app **apps, size_t *count, cs_error *err);
void cs_store_list_free(cs_installed_app *apps, size_t count);

/* Remove id and all its versions. */
int cs_store_remove(const char *store, const char *id, cs_error *err);
