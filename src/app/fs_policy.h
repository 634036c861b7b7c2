/* Access policy of cashstory.fs: the app data folder (read-write) and the
 * --grant paths (read-only or read-write).
 *
 * Every request is checked here before any system call: the path is made
 * absolute (relative paths start in the data folder) and normalized
 * lexically, then matched against the most specific allowed root. The
 * operations then run relative to the root's folder descriptor and never
 * follow a symbolic link (cs_open_beneath), so a link cannot lead outside. */
#pragma once

#include "app/options.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cs_app_fs_root {
    char *path;      /* normalized absolute path, as the app names it */
    int dir_fd;      /* the folder, or for a grant of one file its parent */
    char *file_name; /* for a grant of one file: its name in dir_fd; else NULL */
    bool writable;
    bool is_data; /* the app data folder */
} cs_app_fs_root;

typedef struct cs_app_fs_policy {
    cs_app_fs_root *roots;
    size_t nroots;
    const cs_app_fs_root *data; /* NULL without --data */
} cs_app_fs_policy;

/* Open the data folder (which must exist) and each grant. A grant that is
 * not a folder, or does not exist yet, covers that one file, and its parent
 * folder must exist. */
int cs_app_fs_policy_init(cs_app_fs_policy *policy, const char *data_dir,
                          const cs_app_grant *grants, size_t ngrants, cs_error *err);
void cs_app_fs_policy_free(cs_app_fs_policy *policy);

typedef struct cs_app_fs_target {
    const cs_app_fs_root *root;
    char *absolute; /* normalized absolute path, for messages */
    char *relative; /* path below root->dir_fd; "" for the root folder itself */
} cs_app_fs_target;

/* Check request (len bytes, from the app) for operation ("readFile", ...),
 * which writes when write is set. Returns 0 with *out filled, or -EACCES
 * with a message "cashstory.fs.<operation>: permission denied for <path>:
 * <reason>", or -EINVAL for an empty path or one with a NUL byte. */
int cs_app_fs_policy_check(const cs_app_fs_policy *policy, const char *operation,
                           const char *request, size_t len, bool write, cs_app_fs_target *out,
                           cs_error *err);
void cs_app_fs_target_free(cs_app_fs_target *target);
