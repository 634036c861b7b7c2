#include "package/archive.h"

#include "common/path.h"
#include "package/index.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct cs_archive_reader {
    struct archive *archive;
    int fd;
    uint64_t entries;
    uint64_t total;
    uint64_t remaining; /* bytes of the current entry not read yet */
    char path[CS_PATH_MAX + 1];
};

static int reader_new(cs_archive_reader **out, cs_error *err)
{
    cs_archive_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return cs_error_set(err, ENOMEM, "out of memory");
    r->fd = -1;
    r->archive = archive_read_new();
    if (!r->archive) {
        free(r);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    /* Only uncompressed tar: a package never needs another format, and each
     * extra decoder is more code exposed to hostile input. */
    archive_read_support_format_tar(r->archive);
    *out = r;
    return 0;
}

int cs_archive_open_file(const char *path, cs_archive_reader **out, cs_error *err)
{
    cs_archive_reader *r = NULL;
    int rc = reader_new(&r, err);
    if (rc < 0)
        return rc;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = cs_error_errno(err, errno, "cannot open %s", path);
        cs_archive_close(r);
        return rc;
    }
    struct stat st;
    if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        cs_archive_close(r);
        return cs_error_set(err, EINVAL, "%s: not a regular file", path);
    }
    if (archive_read_open_fd(r->archive, r->fd, 64 * 1024) != ARCHIVE_OK) {
        rc = cs_error_set(err, CS_EVERIFY,
                          "%s is not a package archive: an uncompressed POSIX tar archive is "
                          "expected (%s)",
                          path, archive_error_string(r->archive));
        cs_archive_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int cs_archive_open_memory(const void *data, size_t len, cs_archive_reader **out, cs_error *err)
{
    cs_archive_reader *r = NULL;
    int rc = reader_new(&r, err);
    if (rc < 0)
        return rc;
    if (archive_read_open_memory(r->archive, data, len) != ARCHIVE_OK) {
        rc = cs_error_set(err, CS_EVERIFY,
                          "not a package archive: an uncompressed POSIX tar archive is expected "
                          "(%s)",
                          archive_error_string(r->archive));
        cs_archive_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

static const char *type_name(mode_t type)
{
    switch (type) {
    case AE_IFDIR:
        return "a folder";
    case AE_IFLNK:
        return "a symbolic link";
    case AE_IFCHR:
        return "a character device";
    case AE_IFBLK:
        return "a block device";
    case AE_IFIFO:
        return "a FIFO";
    case AE_IFSOCK:
        return "a socket";
    default:
        return "an entry of unknown type";
    }
}

int cs_archive_next(cs_archive_reader *r, cs_archive_entry *entry, cs_error *err)
{
    struct archive_entry *ae;
    int rc = archive_read_next_header(r->archive, &ae);
    if (rc == ARCHIVE_EOF)
        return 0;
    if (rc != ARCHIVE_OK)
        return cs_error_set(err, CS_EVERIFY, "malformed archive: %s",
                            archive_error_string(r->archive));
    int format = archive_format(r->archive) & ARCHIVE_FORMAT_BASE_MASK;
    if (format != ARCHIVE_FORMAT_TAR)
        return cs_error_set(err, CS_EVERIFY, "the archive is not a POSIX tar archive");

    if (++r->entries > CS_INDEX_MAX_FILES + 3)
        return cs_error_set(err, CS_EVERIFY, "the archive has more than %d entries",
                            CS_INDEX_MAX_FILES + 3);

    const char *path = archive_entry_pathname_utf8(ae);
    if (!path)
        return cs_error_set(err, CS_EVERIFY, "archive entry %llu has a path that is not UTF-8",
                            (unsigned long long)r->entries);
    cs_error inner = {0};
    if (cs_path_check(path, &inner) < 0)
        return cs_error_set(err, CS_EVERIFY, "archive entry %llu: %s",
                            (unsigned long long)r->entries, inner.message);
    snprintf(r->path, sizeof(r->path), "%s", path);

    if (archive_entry_hardlink(ae))
        return cs_error_set(err, CS_EVERIFY, "archive entry '%s' is a hard link", r->path);
    mode_t type = archive_entry_filetype(ae);
    if (type != AE_IFREG)
        return cs_error_set(err, CS_EVERIFY,
                            "archive entry '%s' is %s; packages hold only regular files", r->path,
                            type_name(type));
    if (archive_entry_sparse_count(ae) > 0)
        return cs_error_set(err, CS_EVERIFY, "archive entry '%s' is a sparse file", r->path);
    unsigned mode = (unsigned)archive_entry_perm(ae);
    if (mode & 07000)
        return cs_error_set(err, CS_EVERIFY,
                            "archive entry '%s' has the setuid, setgid or sticky bit (mode %04o)",
                            r->path, mode);
    if (!archive_entry_size_is_set(ae) || archive_entry_size(ae) < 0)
        return cs_error_set(err, CS_EVERIFY, "archive entry '%s' has no size", r->path);
    uint64_t size = (uint64_t)archive_entry_size(ae);
    if (size > CS_FILE_MAX_BYTES)
        return cs_error_set(err, CS_EVERIFY,
                            "archive entry '%s' is %llu bytes, over the limit of %llu", r->path,
                            (unsigned long long)size, (unsigned long long)CS_FILE_MAX_BYTES);
    r->total += size;
    if (r->total > CS_PACKAGE_MAX_BYTES)
        return cs_error_set(err, CS_EVERIFY, "the archive expands past the limit of %llu bytes",
                            (unsigned long long)CS_PACKAGE_MAX_BYTES);

    r->remaining = size;
    entry->path = r->path;
    entry->size = size;
    entry->mode = mode;
    return 1;
}

ssize_t cs_archive_read(cs_archive_reader *r, void *buf, size_t len, cs_error *err)
{
    if (r->remaining == 0)
        return 0;
    if (len > r->remaining)
        len = (size_t)r->remaining;
    la_ssize_t n = archive_read_data(r->archive, buf, len);
    if (n < 0)
        return cs_error_set(err, CS_EVERIFY, "archive entry '%s': %s", r->path,
                            archive_error_string(r->archive));
    if (n == 0)
        return cs_error_set(err, CS_EVERIFY, "archive entry '%s' is truncated", r->path);
    r->remaining -= (uint64_t)n;
    return n;
}

void cs_archive_close(cs_archive_reader *r)
{
    if (!r)
        return;
    archive_read_free(r->archive);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

struct cs_archive_writer {
    struct archive *archive;
    int64_t mtime;
};

int cs_archive_writer_open(int fd, int64_t mtime, cs_archive_writer **out, cs_error *err)
{
    cs_archive_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return cs_error_set(err, ENOMEM, "out of memory");
    w->mtime = mtime;
    w->archive = archive_write_new();
    if (!w->archive || archive_write_set_format_pax_restricted(w->archive) != ARCHIVE_OK ||
        archive_write_open_fd(w->archive, fd) != ARCHIVE_OK) {
        int rc = cs_error_set(err, EIO, "cannot start the archive: %s",
                              w->archive ? archive_error_string(w->archive) : "out of memory");
        cs_archive_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int cs_archive_write_header(cs_archive_writer *w, const char *path, uint64_t size, unsigned mode,
                            cs_error *err)
{
    struct archive_entry *ae = archive_entry_new();
    if (!ae)
        return cs_error_set(err, ENOMEM, "out of memory");
    archive_entry_set_pathname_utf8(ae, path);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, mode);
    archive_entry_set_size(ae, (la_int64_t)size);
    archive_entry_set_mtime(ae, w->mtime, 0);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    int rc = archive_write_header(w->archive, ae);
    archive_entry_free(ae);
    if (rc != ARCHIVE_OK)
        return cs_error_set(err, EIO, "cannot write the archive entry '%s': %s", path,
                            archive_error_string(w->archive));
    return 0;
}

int cs_archive_write_data(cs_archive_writer *w, const void *data, size_t len, cs_error *err)
{
    const uint8_t *p = data;
    while (len > 0) {
        la_ssize_t n = archive_write_data(w->archive, p, len);
        if (n <= 0)
            return cs_error_set(err, EIO, "cannot write archive data: %s",
                                archive_error_string(w->archive));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cs_archive_writer_finish(cs_archive_writer *w, cs_error *err)
{
    if (archive_write_close(w->archive) != ARCHIVE_OK)
        return cs_error_set(err, EIO, "cannot finish the archive: %s",
                            archive_error_string(w->archive));
    return 0;
}

void cs_archive_writer_free(cs_archive_writer *w)
{
    if (!w)
        return;
    archive_write_free(w->archive);
    free(w);
}
