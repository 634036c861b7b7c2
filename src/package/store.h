/* The installed-app store.
 *
 * Layout below the store folder:
 *   lock                      taken (flock) by every command that changes the store
 *   tmp/                      staging; leftovers of interrupted commands are removed
 *   apps/<id>/current         symbolic link to the installed version folder
 *   apps/<id>/previous        symbolic link to the version it replaced, if any
 *   apps/<id>/next            symbolic link to a version staged for the next start
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

#include <stdbool.h>
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

/* Verify the unpacked package folder stage_path (on the store's file
 * system, outside apps/) as cs_verify_dir does, record origin_url and
 * protocol in its origin.json, make it read-only and move it into the store
 * in one rename. With activate, it becomes "current" and the version it
 * replaces "previous"; without, it becomes "next" and the running version
 * stays until cs_store_activate_next. On failure stage_path stays where it
 * is, for the caller to remove. */
int cs_store_install_dir(const char *store, const char *stage_path, const cs_trust *trust,
                         const char *origin_url, const char *protocol, bool activate,
                         cs_verify_result *result, cs_error *err);

/* The folder (*path) and signed version (*version) that apps/<id>/<link>
 * names, where link is "current", "previous" or "next"; either output may be
 * NULL. Returns -ENOENT when the link does not exist. */
int cs_store_link_version(const char *store, const char *id, const char *link, char **path,
                          char **version, cs_error *err);

/* Swap "current" and "previous" of id and drop a staged "next", so that a
 * second rollback undoes the first. *from and *to receive the versions (new
 * strings). Returns -ENOENT when there is no previous version. */
int cs_store_rollback(const char *store, const char *id, char **from, char **to, cs_error *err);

/* Make the version staged as "next" current (the old current becomes
 * "previous"). *activated is set when there was a staged version. */
int cs_store_activate_next(const char *store, const char *id, bool *activated, cs_error *err);
