/* The blocking file operations of cashstory.fs, run on libuv's thread pool.
 *
 * Each works on rel below dir_fd (a root of the fs policy) and never follows
 * a symbolic link: a link anywhere in rel fails with -ELOOP. rel is "" for
 * the root folder itself. Each returns 0 or a negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Largest file that readFile reads, in bytes (as for one package file). */
#define CS_APP_FS_READ_MAX (1024ULL * 1024 * 1024)

int cs_app_fs_read_file(int dir_fd, const char *rel, uint8_t **data, size_t *len);

/* Create or truncate a regular file (mode 0600 when created) and write len
 * bytes to it. */
int cs_app_fs_write_file(int dir_fd, const char *rel, const uint8_t *data, size_t len);

/* Names in a folder, without "." and "..", sorted in byte order. */
int cs_app_fs_readdir(int dir_fd, const char *rel, char ***names, size_t *count);
void cs_app_fs_names_free(char **names, size_t count);

/* lstat: a symbolic link as the last component is described, not followed. */
int cs_app_fs_stat(int dir_fd, const char *rel, struct stat *st);

/* Create a folder (mode 0700), and with recursive its missing parents;
 * with recursive an existing folder is not an error. */
int cs_app_fs_mkdir(int dir_fd, const char *rel, bool recursive);

/* Remove a file or an empty folder, or with recursive a folder and
 * everything in it. A folder without recursive fails with -EISDIR. With
 * force a missing path is not an error. rel must not be "". */
int cs_app_fs_rm(int dir_fd, const char *rel, bool recursive, bool force);
