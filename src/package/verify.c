#include "package/verify.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/path.h"
#include "package/archive.h"
#include "package/manifest.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

void cs_verify_result_free(cs_verify_result *result)
{
    cs_index_free(&result->index);
    cs_report_free(&result->report);
    free(result->app_name);
    memset(result, 0, sizeof(*result));
}

/* Status to return once all checks ran. */
static int finish(cs_verify_result *res, cs_error *err)
{
    if (res->report.count == 0)
        return 0;
    if (res->report.count == 1 && res->signature_valid && !res->signer.trusted)
        return cs_error_set(err, CS_EUNTRUSTED, "%s", res->report.problems[0]);
    if (res->report.count == 1)
        return cs_error_set(err, CS_EVERIFY, "%s", res->report.problems[0]);
    return cs_error_set(err, CS_EVERIFY, "%s (and %zu more problems)", res->report.problems[0],
                        res->report.count - 1);
}

/* Verify the signature over the index bytes, then parse the index and check
 * that it names the signer that actually signed. Returns 0 when the index can
 * be used to check files (even if the signer is untrusted, which is reported). */
static int check_signed_index(const uint8_t *index_data, size_t index_len, const uint8_t *sig,
                              size_t sig_len, const uint8_t *signer_pem, size_t signer_pem_len,
                              const cs_trust *trust, cs_verify_result *res)
{
    cs_error e = {0};
    int rc;
    if (signer_pem) {
        cs_autopkey EVP_PKEY *key = NULL;
        rc = cs_key_parse_public(signer_pem, signer_pem_len, &key, &e);
        if (rc < 0) {
            cs_report_add(&res->report, "%s: %s", CS_META_SIGNER_KEY, e.message);
            return -CS_EVERIFY;
        }
        rc = cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, index_data, index_len, sig, sig_len,
                               trust, &res->signer, &e);
    } else {
        rc = cs_verify_cms(sig, sig_len, CS_DOMAIN_PACKAGE_INDEX, index_data, index_len, trust,
                           &res->signer, &e);
    }
    if (rc < 0) {
        cs_report_add(&res->report, "signature: %s", e.message);
        return -CS_EVERIFY;
    }
    res->signature_valid = true;
    cs_sha256(index_data, index_len, res->index_sha256);

    rc = cs_index_parse(index_data, index_len, &res->index, &e);
    if (rc < 0) {
        cs_report_add(&res->report, "%s", e.message);
        return -CS_EVERIFY;
    }
    res->index_valid = true;

    const cs_index *idx = &res->index;
    if (idx->signer_type != res->signer.type ||
        strcmp(idx->signer_key_id, res->signer.key_id) != 0 ||
        (idx->signer_type == CS_SIGNER_X509 &&
         strcmp(idx->signer_cert_sha256, res->signer.cert_sha256) != 0)) {
        cs_report_add(&res->report,
                      "the index names signer key %s but the signature was made by key %s",
                      idx->signer_key_id, res->signer.key_id);
        return -CS_EVERIFY;
    }
    if (!res->signer.trusted)
        cs_report_add(&res->report, "untrusted signer: %s", res->signer.trust_note);
    return 0;
}

static int check_manifest_path(const char *field, const char *path, void *ctx)
{
    cs_verify_result *res = ctx;
    if (!cs_index_find(&res->index, path))
        cs_report_add(&res->report, "%s: field '%s' names '%s', which is not in the package",
                      CS_MANIFEST_NAME, field, path);
    return 0;
}

/* Check manifest bytes whose digest already matched the index. */
static void check_manifest(const uint8_t *data, size_t len, cs_verify_result *res)
{
    cs_manifest manifest;
    cs_error e = {0};
    if (cs_manifest_parse(data, len, &manifest, &e) < 0) {
        cs_report_add(&res->report, "%s", e.message);
        return;
    }
    if (strcmp(manifest.id, res->index.app_id) != 0)
        cs_report_add(&res->report, "%s: field 'id' is '%s' but the index says '%s'",
                      CS_MANIFEST_NAME, manifest.id, res->index.app_id);
    if (strcmp(manifest.version, res->index.version) != 0)
        cs_report_add(&res->report, "%s: field 'version' is '%s' but the index says '%s'",
                      CS_MANIFEST_NAME, manifest.version, res->index.version);
    cs_manifest_foreach_path(&manifest, check_manifest_path, res);
    free(res->app_name);
    res->app_name = strdup(manifest.name);
    cs_manifest_free(&manifest);
}

static void report_digest_mismatch(cs_verify_result *res, const cs_index_file *file,
                                   const uint8_t actual[CS_SHA256_LEN])
{
    char got[CS_SHA256_HEX_LEN + 1], want[CS_SHA256_HEX_LEN + 1];
    cs_hex_encode(actual, CS_SHA256_LEN, got);
    cs_hex_encode(file->sha256, CS_SHA256_LEN, want);
    cs_report_add(&res->report, "file '%s' has SHA-256 %s but the signed index says %s", file->path,
                  got, want);
}

/* ---- archives ---------------------------------------------------------- */

/* Read the whole current entry into a new buffer of at most max bytes. */
static int read_entry(cs_archive_reader *ar, const cs_archive_entry *entry, size_t max,
                      uint8_t **out, cs_error *err)
{
    if (entry->size > max)
        return cs_error_set(err, CS_EVERIFY, "'%s' is %llu bytes, over the limit of %zu",
                            entry->path, (unsigned long long)entry->size, max);
    uint8_t *buf = malloc((size_t)entry->size + 1);
    if (!buf)
        return cs_error_set(err, ENOMEM, "out of memory");
    size_t used = 0;
    while (used < entry->size) {
        ssize_t n = cs_archive_read(ar, buf + used, (size_t)entry->size - used, err);
        if (n < 0) {
            free(buf);
            return (int)n;
        }
        used += (size_t)n;
    }
    buf[used] = '\0';
    *out = buf;
    return 0;
}

/* Create the folders of rel below dirfd and open rel for writing. */
static int create_beneath(int dirfd, const char *rel, cs_error *err)
{
    char path[CS_PATH_MAX + 1];
    snprintf(path, sizeof(path), "%s", rel);
    for (char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdirat(dirfd, path, 0755) < 0 && errno != EEXIST)
            return cs_error_errno(err, errno, "cannot create folder '%s'", path);
        *s = '/';
    }
    int fd = cs_open_beneath(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return cs_error_errno(err, -fd, "cannot create '%s'", rel);
    return fd;
}

static int extract_buffer(int dirfd, const char *rel, const uint8_t *data, size_t len,
                          unsigned mode, cs_error *err)
{
    if (dirfd < 0)
        return 0;
    cs_autoclose int fd = create_beneath(dirfd, rel, err);
    if (fd < 0)
        return fd;
    int rc = cs_write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0)
        rc = -errno;
    if (rc < 0)
        return cs_error_errno(err, -rc, "cannot write '%s'", rel);
    return 0;
}

/* Stream one file entry: hash it, optionally write it out, compare with the
 * index. Returns a negative code only for errors that stop reading. */
static int check_archive_file(cs_archive_reader *ar, const cs_archive_entry *entry,
                              const cs_index_file *file, int dirfd, cs_verify_result *res,
                              cs_error *err)
{
    bool is_manifest = strcmp(file->path, CS_MANIFEST_NAME) == 0;
    cs_autofree uint8_t *manifest = NULL;
    if (is_manifest) {
        if (file->size > CS_MANIFEST_MAX) {
            cs_report_add(&res->report, "%s is larger than %d bytes", CS_MANIFEST_NAME,
                          CS_MANIFEST_MAX);
            return 0;
        }
        manifest = malloc((size_t)file->size + 1);
        if (!manifest)
            return cs_error_set(err, ENOMEM, "out of memory");
    }
    cs_autoclose int out = -1;
    if (dirfd >= 0) {
        out = create_beneath(dirfd, entry->path, err);
        if (out < 0)
            return out;
    }

    enum { CHUNK = 128 * 1024 };
    cs_autofree uint8_t *buf = malloc(CHUNK);
    cs_sha256_ctx *ctx = cs_sha256_new();
    if (!buf || !ctx) {
        cs_sha256_free(ctx);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    uint64_t total = 0;
    for (;;) {
        ssize_t n = cs_archive_read(ar, buf, CHUNK, err);
        if (n < 0) {
            cs_sha256_free(ctx);
            return (int)n;
        }
        if (n == 0)
            break;
        cs_sha256_update(ctx, buf, (size_t)n);
        if (manifest)
            memcpy(manifest + total, buf, (size_t)n);
        total += (uint64_t)n;
        if (out >= 0) {
            int rc = cs_write_all(out, buf, (size_t)n);
            if (rc < 0) {
                cs_sha256_free(ctx);
                return cs_error_errno(err, -rc, "cannot write '%s'", entry->path);
            }
        }
    }
    uint8_t digest[CS_SHA256_LEN];
    cs_sha256_final(ctx, digest);
    cs_sha256_free(ctx);
    res->files_checked++;
    res->bytes_checked += total;

    if (!cs_digest_equal(digest, file->sha256)) {
        report_digest_mismatch(res, file, digest);
        return 0;
    }
    if (manifest)
        check_manifest(manifest, (size_t)total, res);
    if (out >= 0 && fchmod(out, file->mode & 0555) < 0)
        return cs_error_errno(err, errno, "cannot set the mode of '%s'", entry->path);
    return 0;
}

static int verify_archive_reader(cs_archive_reader *ar, const cs_trust *trust, int dirfd,
                                 cs_verify_result *res, cs_error *err)
{
    memset(res, 0, sizeof(*res));
    cs_archive_entry entry;
    cs_autofree uint8_t *index_data = NULL, *sig = NULL, *signer_pem = NULL;
    size_t index_len = 0, sig_len = 0, signer_len = 0;
    cs_error e = {0};

    /* The metadata comes first: index, signature, then the signer key for
     * Ed25519 packages. */
    int rc = cs_archive_next(ar, &entry, &e);
    if (rc < 0) {
        cs_report_add(&res->report, "%s", e.message);
        return finish(res, err);
    }
    if (rc == 0 || strcmp(entry.path, CS_META_INDEX) != 0) {
        cs_report_add(&res->report,
                      "not a CashStory package: the archive does not start with %s; make a "
                      "package with 'cashstory pack DIR --key KEY --out FILE.csa'",
                      CS_META_INDEX);
        return finish(res, err);
    }
    index_len = (size_t)entry.size;
    if ((rc = read_entry(ar, &entry, CS_INDEX_MAX_BYTES, &index_data, &e)) < 0) {
        cs_report_add(&res->report, "%s", e.message);
        return finish(res, err);
    }
    rc = cs_archive_next(ar, &entry, &e);
    if (rc <= 0 || strcmp(entry.path, CS_META_SIGNATURE) != 0) {
        cs_report_add(&res->report, "%s",
                      rc < 0 ? e.message
                             : "the archive has no " CS_META_SIGNATURE " after the index");
        return finish(res, err);
    }
    sig_len = (size_t)entry.size;
    if ((rc = read_entry(ar, &entry, CS_SIGNATURE_MAX, &sig, &e)) < 0) {
        cs_report_add(&res->report, "%s", e.message);
        return finish(res, err);
    }

    rc = cs_archive_next(ar, &entry, &e);
    if (rc < 0) {
        cs_report_add(&res->report, "%s", e.message);
        return finish(res, err);
    }
    bool have_entry = rc > 0;
    if (have_entry && strcmp(entry.path, CS_META_SIGNER_KEY) == 0) {
        signer_len = (size_t)entry.size;
        if ((rc = read_entry(ar, &entry, CS_KEY_FILE_MAX, &signer_pem, &e)) < 0) {
            cs_report_add(&res->report, "%s", e.message);
            return finish(res, err);
        }
        rc = cs_archive_next(ar, &entry, &e);
        if (rc < 0) {
            cs_report_add(&res->report, "%s", e.message);
            return finish(res, err);
        }
        have_entry = rc > 0;
    }

    if (check_signed_index(index_data, index_len, sig, sig_len, signer_pem, signer_len, trust,
                           res) < 0)
        return finish(res, err);

    if ((rc = extract_buffer(dirfd, CS_META_INDEX, index_data, index_len, 0444, err)) < 0 ||
        (rc = extract_buffer(dirfd, CS_META_SIGNATURE, sig, sig_len, 0444, err)) < 0 ||
        (signer_pem &&
         (rc = extract_buffer(dirfd, CS_META_SIGNER_KEY, signer_pem, signer_len, 0444, err)) < 0))
        return rc;

    const cs_index *idx = &res->index;
    cs_autofree bool *seen = calloc(idx->nfiles ? idx->nfiles : 1, sizeof(bool));
    if (!seen)
        return cs_error_set(err, ENOMEM, "out of memory");

    while (have_entry) {
        const cs_index_file *file = cs_index_find(idx, entry.path);
        if (cs_path_is_reserved(entry.path)) {
            cs_report_add(&res->report, "archive entry '%s' is misplaced or repeated metadata",
                          entry.path);
            return finish(res, err);
        }
        if (!file) {
            cs_report_add(&res->report, "file '%s' is not in the signed index", entry.path);
            return finish(res, err);
        }
        size_t pos = cs_index_position(idx, file);
        if (seen[pos]) {
            cs_report_add(&res->report, "file '%s' appears twice in the archive", entry.path);
            return finish(res, err);
        }
        seen[pos] = true;
        if (entry.size != file->size) {
            cs_report_add(&res->report,
                          "file '%s' is %llu bytes in the archive but the signed index says %llu",
                          entry.path, (unsigned long long)entry.size,
                          (unsigned long long)file->size);
            return finish(res, err);
        }
        if (entry.mode != file->mode)
            cs_report_add(&res->report, "file '%s' has mode %04o but the signed index says %04o",
                          entry.path, entry.mode, file->mode);

        rc = check_archive_file(ar, &entry, file, dirfd, res, &e);
        if (rc < 0) {
            if (rc == -CS_EVERIFY) {
                cs_report_add(&res->report, "%s", e.message);
                return finish(res, err);
            }
            *err = e;
            return rc;
        }

        rc = cs_archive_next(ar, &entry, &e);
        if (rc < 0) {
            cs_report_add(&res->report, "%s", e.message);
            return finish(res, err);
        }
        have_entry = rc > 0;
    }

    for (size_t i = 0; i < idx->nfiles; i++) {
        if (!seen[i])
            cs_report_add(&res->report, "file '%s' is listed in the signed index but missing",
                          idx->files[i].path);
    }
    return finish(res, err);
}

int cs_verify_archive(const char *path, const cs_trust *trust, int extract_dirfd,
                      cs_verify_result *result, cs_error *err)
{
    cs_archive_reader *ar = NULL;
    memset(result, 0, sizeof(*result));
    int rc = cs_archive_open_file(path, &ar, err);
    if (rc == -CS_EVERIFY)
        cs_report_add(&result->report, "%s", err->message);
    if (rc < 0)
        return rc;
    rc = verify_archive_reader(ar, trust, extract_dirfd, result, err);
    cs_archive_close(ar);
    return rc;
}

int cs_verify_archive_memory(const void *data, size_t len, const cs_trust *trust,
                             cs_verify_result *result, cs_error *err)
{
    cs_archive_reader *ar = NULL;
    memset(result, 0, sizeof(*result));
    int rc = cs_archive_open_memory(data, len, &ar, err);
    if (rc == -CS_EVERIFY)
        cs_report_add(&result->report, "%s", err->message);
    if (rc < 0)
        return rc;
    rc = verify_archive_reader(ar, trust, -1, result, err);
    cs_archive_close(ar);
    return rc;
}

/* ---- folders ----------------------------------------------------------- */

#define WALK_MAX_ENTRIES (2 * CS_INDEX_MAX_FILES)

typedef struct walk_state {
    cs_verify_result *res;
    bool *present;
    size_t entries;
} walk_state;

static const char *const known_metadata[] = {"index.json", "index.sig", "signer.pub", "origin.json",
                                             NULL};

static bool is_known_metadata(const char *name)
{
    for (const char *const *k = known_metadata; *k; k++)
        if (strcmp(name, *k) == 0)
            return true;
    return false;
}

static const char *stat_type_name(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

/* Record every entry below dirfd (whose package path is prefix) and report
 * entries that a package cannot contain. */
static int walk(int dirfd, const char *prefix, walk_state *st, cs_error *err)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot read folder '%s'", prefix);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return cs_error_errno(err, errno, "cannot read folder '%s'", prefix);
    }
    rewinddir(d);
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (++st->entries > WALK_MAX_ENTRIES) {
            rc =
                cs_error_set(err, E2BIG, "the folder holds more than %d entries", WALK_MAX_ENTRIES);
            break;
        }
        char rel[CS_PATH_MAX + 1];
        int n = snprintf(rel, sizeof(rel), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof(rel)) {
            cs_report_add(&st->res->report, "path '%s/%s' is too long for a package", prefix,
                          de->d_name);
            continue;
        }
        /* The entry type from readdir saves a stat for most entries. */
        struct stat sb;
        if (de->d_type == DT_REG) {
            sb.st_mode = S_IFREG;
        } else if (de->d_type == DT_DIR) {
            sb.st_mode = S_IFDIR;
        } else if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            cs_report_add(&st->res->report, "cannot stat '%s': %s", rel, strerror(errno));
            continue;
        }
        if (*prefix == '\0' && strcmp(de->d_name, CS_META_DIR) == 0) {
            if (!S_ISDIR(sb.st_mode))
                cs_report_add(&st->res->report, "'%s' is not a folder", CS_META_DIR);
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                cs_report_add(&st->res->report, "cannot open folder '%s': %s", rel,
                              strerror(errno));
                continue;
            }
            rc = walk(sub, rel, st, err);
            close(sub);
            if (rc < 0)
                break;
            continue;
        }
        const cs_index_file *file = cs_index_find(&st->res->index, rel);
        if (!S_ISREG(sb.st_mode)) {
            cs_report_add(&st->res->report, "'%s' is %s; packages hold only regular files", rel,
                          stat_type_name(sb.st_mode));
            continue;
        }
        if (!file) {
            cs_report_add(&st->res->report, "file '%s' is not in the signed index", rel);
            continue;
        }
        st->present[cs_index_position(&st->res->index, file)] = true;
    }
    closedir(d);
    return rc;
}

static void check_metadata_folder(int package_fd, cs_verify_result *res)
{
    int fd = cs_open_beneath(package_fd, CS_META_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat sb;
        if (!is_known_metadata(de->d_name))
            cs_report_add(&res->report, "unexpected file '%s/%s' in the metadata folder",
                          CS_META_DIR, de->d_name);
        else if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                 !S_ISREG(sb.st_mode))
            cs_report_add(&res->report, "'%s/%s' is %s", CS_META_DIR, de->d_name,
                          stat_type_name(sb.st_mode));
    }
    closedir(d);
}

typedef struct file_check {
    int error;     /* errno, 0 when the file could be read */
    uint64_t size; /* actual size */
    mode_t mode;   /* actual mode */
    uint8_t digest[CS_SHA256_LEN];
    bool hashed;
} file_check;

typedef struct hash_job {
    int dirfd;
    const cs_index *index;
    file_check *checks;
    atomic_size_t next;
} hash_job;

enum { HASH_BUFFER = 128 * 1024 };

static void check_one_file(hash_job *job, size_t i, uint8_t *buf)
{
    const cs_index_file *file = &job->index->files[i];
    file_check *c = &job->checks[i];
    int fd = cs_open_beneath(job->dirfd, file->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0) {
        c->error = -fd;
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        c->error = EINVAL;
        close(fd);
        return;
    }
    c->size = (uint64_t)sb.st_size;
    c->mode = sb.st_mode;
    if (c->size == file->size) {
        uint64_t hashed_size = 0;
        int rc = cs_sha256_fd_buffer(fd, file->size, buf, HASH_BUFFER, c->digest, &hashed_size);
        if (rc == -EFBIG) {
            c->size = file->size + 1;
        } else if (rc < 0) {
            c->error = -rc;
        } else {
            c->size = hashed_size;
            c->hashed = true;
        }
    }
    close(fd);
}

static void *hash_worker(void *arg)
{
    hash_job *job = arg;
    uint8_t *buf = malloc(HASH_BUFFER);
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->index->nfiles)
            break;
        if (buf)
            check_one_file(job, i, buf);
        else
            job->checks[i].error = ENOMEM;
    }
    free(buf);
    return NULL;
}

/* Hash every file of the index on one thread per online CPU (up to 16)
 * while the calling thread walks the folder, then let the calling thread
 * help with what is left. */
static int hash_and_walk(int dirfd, const cs_index *index, file_check *checks, walk_state *walk_st,
                         cs_error *err)
{
    hash_job job = {.dirfd = dirfd, .index = index, .checks = checks};
    atomic_init(&job.next, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cpus < 1 ? 1 : (size_t)cpus;
    if (threads > 16)
        threads = 16;
    if (threads > index->nfiles)
        threads = index->nfiles;

    pthread_t tids[16];
    size_t started = 0;
    for (size_t t = 0; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, hash_worker, &job) != 0)
            break;
        started++;
    }
    int rc = walk(dirfd, "", walk_st, err);
    hash_worker(&job);
    for (size_t t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    return rc;
}

static int read_meta(int dirfd, const char *rel, size_t max, bool optional, uint8_t **out,
                     size_t *len, cs_verify_result *res)
{
    int fd = cs_open_beneath(dirfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0) {
        if (fd == -ENOENT && optional)
            return 0;
        if (fd == -ENOENT && strcmp(rel, CS_META_INDEX) == 0) {
            cs_report_add(&res->report,
                          "not a CashStory package: the folder has no signed index (%s); make a "
                          "package with 'cashstory pack DIR --key KEY --out FILE.csa'",
                          CS_META_INDEX);
            return -CS_EVERIFY;
        }
        cs_report_add(&res->report, "cannot open %s: %s", rel, strerror(-fd));
        return -CS_EVERIFY;
    }
    cs_error e = {0};
    int rc = cs_read_fd(fd, rel, max, out, len, &e);
    close(fd);
    if (rc < 0) {
        cs_report_add(&res->report, "%s: %s", rel, e.message);
        return -CS_EVERIFY;
    }
    return 1;
}

int cs_verify_dir(const char *path, const cs_trust *trust, cs_verify_result *res, cs_error *err)
{
    memset(res, 0, sizeof(*res));
    cs_autoclose int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return cs_error_errno(err, errno, "cannot open folder %s", path);

    cs_autofree uint8_t *index_data = NULL, *sig = NULL, *signer_pem = NULL;
    size_t index_len = 0, sig_len = 0, signer_len = 0;
    if (read_meta(dirfd, CS_META_INDEX, CS_INDEX_MAX_BYTES, false, &index_data, &index_len, res) <
            0 ||
        read_meta(dirfd, CS_META_SIGNATURE, CS_SIGNATURE_MAX, false, &sig, &sig_len, res) < 0 ||
        read_meta(dirfd, CS_META_SIGNER_KEY, CS_KEY_FILE_MAX, true, &signer_pem, &signer_len, res) <
            0)
        return finish(res, err);
    if (check_signed_index(index_data, index_len, sig, sig_len, signer_pem, signer_len, trust,
                           res) < 0)
        return finish(res, err);
    check_metadata_folder(dirfd, res);

    const cs_index *idx = &res->index;
    size_t n = idx->nfiles ? idx->nfiles : 1;
    cs_autofree bool *present = calloc(n, sizeof(bool));
    cs_autofree file_check *checks = calloc(n, sizeof(file_check));
    if (!present || !checks)
        return cs_error_set(err, ENOMEM, "out of memory");
    walk_state st = {.res = res, .present = present};
    int rc = hash_and_walk(dirfd, idx, checks, &st, err);
    if (rc < 0)
        return rc;

    for (size_t i = 0; i < idx->nfiles; i++) {
        const cs_index_file *file = &idx->files[i];
        const file_check *c = &checks[i];
        if (!present[i]) {
            cs_report_add(&res->report, "file '%s' is listed in the signed index but missing",
                          file->path);
            continue;
        }
        if (c->error) {
            cs_report_add(&res->report, "cannot read file '%s': %s", file->path,
                          strerror(c->error));
            continue;
        }
        if (c->size != file->size) {
            cs_report_add(&res->report, "file '%s' is %llu bytes but the signed index says %llu",
                          file->path, (unsigned long long)c->size, (unsigned long long)file->size);
            continue;
        }
        res->files_checked++;
        res->bytes_checked += c->size;
        if (!cs_digest_equal(c->digest, file->sha256)) {
            report_digest_mismatch(res, file, c->digest);
            continue;
        }
        if (c->mode & 07000)
            cs_report_add(&res->report, "file '%s' has the setuid, setgid or sticky bit",
                          file->path);
        bool executable = (c->mode & 0111) != 0;
        if (executable != (file->mode == 0755))
            cs_report_add(&res->report,
                          "file '%s' is %sexecutable but the signed index says mode %04o",
                          file->path, executable ? "" : "not ", file->mode);
    }

    const cs_index_file *mf = cs_index_find(idx, CS_MANIFEST_NAME);
    if (mf && present[cs_index_position(idx, mf)] && checks[cs_index_position(idx, mf)].hashed &&
        cs_digest_equal(checks[cs_index_position(idx, mf)].digest, mf->sha256)) {
        uint8_t *data = NULL;
        size_t len = 0;
        cs_error e = {0};
        int fd = cs_open_beneath(dirfd, CS_MANIFEST_NAME, O_RDONLY | O_NONBLOCK, 0);
        if (fd >= 0 && cs_read_fd(fd, CS_MANIFEST_NAME, CS_MANIFEST_MAX, &data, &len, &e) == 0) {
            uint8_t digest[CS_SHA256_LEN];
            cs_sha256(data, len, digest);
            if (cs_digest_equal(digest, mf->sha256))
                check_manifest(data, len, res);
            else
                report_digest_mismatch(res, mf, digest);
            free(data);
        } else {
            cs_report_add(&res->report, "cannot read %s", CS_MANIFEST_NAME);
        }
        if (fd >= 0)
            close(fd);
    }
    return finish(res, err);
}
