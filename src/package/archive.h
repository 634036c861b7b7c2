/* Reading and writing .csa package archives (POSIX tar, pax format).
 *
 * The reader accepts only what a package may contain: regular files with
 * canonical relative paths, no links, devices, FIFOs, folders or sparse
 * files, no setuid, setgid or sticky bits, and sizes within the limits of
 * package/index.h. */
#pragma once

#include "common/error.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct cs_archive_reader cs_archive_reader;

typedef struct cs_archive_entry {
    const char *path; /* valid until the next call to cs_archive_next */
    uint64_t size;
    unsigned mode; /* permission bits */
} cs_archive_entry;

int cs_archive_open_file(const char *path, cs_archive_reader **out, cs_error *err);
int cs_archive_open_memory(const void *data, size_t len, cs_archive_reader **out, cs_error *err);

/* Advance to the next entry. Returns 1 with entry filled, 0 at the end of the
 * archive, or a negative code for a malformed or rejected entry. */
int cs_archive_next(cs_archive_reader *reader, cs_archive_entry *entry, cs_error *err);

/* Read up to len bytes of the current entry's data. Returns the number of
 * bytes read (0 at the end of the entry) or a negative code. */
ssize_t cs_archive_read(cs_archive_reader *reader, void *buf, size_t len, cs_error *err);

void cs_archive_close(cs_archive_reader *reader);

typedef struct cs_archive_writer cs_archive_writer;

/* Write a reproducible archive to fd: pax format, owner 0:0, no user or
 * group names, and the same modification time on every entry. */
int cs_archive_writer_open(int fd, int64_t mtime, cs_archive_writer **out, cs_error *err);
int cs_archive_write_header(cs_archive_writer *writer, const char *path, uint64_t size,
                            unsigned mode, cs_error *err);
int cs_archive_write_data(cs_archive_writer *writer, const void *data, size_t len, cs_error *err);
int cs_archive_writer_finish(cs_archive_writer *writer, cs_error *err);
void cs_archive_writer_free(cs_archive_writer *writer);
