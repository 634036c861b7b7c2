/* File-system helpers: bounded reads, atomic writes, safe opens and removal. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read the whole file at path (relative to dirfd, or AT_FDCWD) into a new
 * NUL-terminated buffer. Files larger than max bytes are rejected. With
 * nofollow, a symbolic link as the last component is rejected. */
int cs_read_file_at(int dirfd, const char *path, size_t max, bool nofollow, uint8_t **out,
                    size_t *len, cs_error *err);

/* Read the open regular file fd to its end (name is used in messages). */
int cs_read_fd(int fd, const char *name, size_t max, uint8_t **out, size_t *len, cs_error *err);

static inline int cs_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
                               cs_error *err)
{
    return cs_read_file_at(-100 /* AT_FDCWD */, path, max, false, out, len, err);
}

/* Write len bytes to path through a temporary file in the same folder,
 * fsync it and rename it over path, so readers see the old or the new content. */
int cs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         cs_error *err);

/* Create path with O_EXCL and the given mode and write data to it. On failure
 * nothing is left behind. */
int cs_write_file_exclusive(const char *path, const void *data, size_t len, mode_t mode,
                            cs_error *err);

/* Write all len bytes to fd, retrying after partial writes and EINTR. */
int cs_write_all(int fd, const void *data, size_t len);

/* Open rel below dirfd without following any symbolic link and without leaving
 * dirfd (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a component-wise
 * O_NOFOLLOW walk where openat2 is unavailable). Returns an fd or -errno. */
int cs_open_beneath(int dirfd, const char *rel, int flags, mode_t mode);

/* Create each missing folder of path with mode. */
int cs_mkdir_p(const char *path, mode_t mode, cs_error *err);

/* Remove name below dirfd and everything inside it, making read-only folders
 * writable first. Symbolic links are removed, never followed. */
int cs_remove_tree_at(int parent_fd, const char *name);

/* fsync the folder at path (or fd) so that renames inside it are durable. */
int cs_fsync_dir(const char *path);

/* Folder part of path in a new string ("." when path has no '/'). */
char *cs_dirname(const char *path);
