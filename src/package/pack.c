#include "package/pack.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/path.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "package/archive.h"
#include "package/index.h"
#include "package/manifest.h"

#include <dirent.h>
#include <limits.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct file_list {
    cs_index_file *files;
    size_t count;
    size_t cap;
    int64_t newest_mtime;
} file_list;

static void file_list_free(file_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->files[i].path);
    free(list->files);
}

/* Collect the regular files below dirfd. Links, devices, FIFOs, sockets and
 * setuid or setgid files are errors, because a package cannot carry them. */
static int collect(int dirfd, const char *prefix, const char *root, file_list *list, cs_error *err)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d)
        rewinddir(d);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return cs_error_errno(err, errno, "cannot read folder %s/%s", root, prefix);
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char rel[CS_PATH_MAX + 1];
        int n = snprintf(rel, sizeof(rel), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof(rel)) {
            rc = cs_error_set(err, ENAMETOOLONG, "%s/%s/%s: path is longer than %d bytes", root,
                              prefix, de->d_name, CS_PATH_MAX);
            break;
        }
        cs_error inner = {0};
        if (cs_path_check(rel, &inner) < 0) {
            rc = cs_error_set(err, EINVAL, "%s/%s: %s", root, rel, inner.message);
            break;
        }
        if (cs_path_is_reserved(rel)) {
            rc = cs_error_set(err, EINVAL,
                              "%s/%s: the name .cashstory is reserved for package metadata", root,
                              rel);
            break;
        }
        struct stat sb;
        if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = cs_error_errno(err, errno, "cannot stat %s/%s", root, rel);
            break;
        }
        if (S_ISDIR(sb.st_mode)) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = cs_error_errno(err, errno, "cannot open folder %s/%s", root, rel);
                break;
            }
            rc = collect(sub, rel, root, list, err);
            close(sub);
            if (rc < 0)
                break;
            continue;
        }
        if (S_ISLNK(sb.st_mode)) {
            rc = cs_error_set(err, EINVAL,
                              "%s/%s is a symbolic link; packages hold only regular files "
                              "(copy the target into the app folder instead)",
                              root, rel);
            break;
        }
        if (!S_ISREG(sb.st_mode)) {
            rc = cs_error_set(err, EINVAL,
                              "%s/%s is a device, FIFO or socket; packages hold only regular files",
                              root, rel);
            break;
        }
        if (sb.st_mode & 07000) {
            rc = cs_error_set(err, EINVAL,
                              "%s/%s has the setuid, setgid or sticky bit; remove it with chmod",
                              root, rel);
            break;
        }
        if ((uint64_t)sb.st_size > CS_FILE_MAX_BYTES) {
            rc = cs_error_set(err, EFBIG, "%s/%s is larger than the limit of %llu bytes", root, rel,
                              (unsigned long long)CS_FILE_MAX_BYTES);
            break;
        }
        if (list->count >= CS_INDEX_MAX_FILES) {
            rc = cs_error_set(err, E2BIG, "%s holds more than %d files", root, CS_INDEX_MAX_FILES);
            break;
        }
        if (list->count == list->cap) {
            size_t cap = list->cap ? list->cap * 2 : 64;
            cs_index_file *grown = realloc(list->files, cap * sizeof(*grown));
            if (!grown) {
                rc = cs_error_set(err, ENOMEM, "out of memory");
                break;
            }
            list->files = grown;
            list->cap = cap;
        }
        cs_index_file *f = &list->files[list->count];
        memset(f, 0, sizeof(*f));
        f->path = strdup(rel);
        if (!f->path) {
            rc = cs_error_set(err, ENOMEM, "out of memory");
            break;
        }
        f->mode = (sb.st_mode & 0111) ? 0755 : 0644;
        list->count++;
        if (sb.st_mtime > list->newest_mtime)
            list->newest_mtime = sb.st_mtime;
    }
    closedir(d);
    return rc;
}

static int compare_files(const void *a, const void *b)
{
    return strcmp(((const cs_index_file *)a)->path, ((const cs_index_file *)b)->path);
}

static int hash_file(int dirfd, const char *root, cs_index_file *file, cs_error *err)
{
    cs_autoclose int fd = cs_open_beneath(dirfd, file->path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return cs_error_errno(err, -fd, "cannot open %s/%s", root, file->path);
    int rc = cs_sha256_fd(fd, CS_FILE_MAX_BYTES, file->sha256, &file->size);
    if (rc < 0)
        return cs_error_errno(err, -rc, "cannot read %s/%s", root, file->path);
    return 0;
}

static int creation_time(int64_t newest_mtime, int64_t *out, cs_error *err)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (errno || *end || v < 0 || v > 253402300799LL)
            return cs_error_set(
                err, EINVAL, "SOURCE_DATE_EPOCH '%s' is not a number of seconds since 1970", sde);
        *out = v;
        return 0;
    }
    *out = newest_mtime < 0 ? 0 : newest_mtime;
    return 0;
}

/* Write one app file into the archive, hashing it again so that a file that
 * changed since it was indexed is detected instead of packed. */
static int write_file(cs_archive_writer *w, int dirfd, const char *root, const cs_index_file *f,
                      cs_error *err)
{
    int rc = cs_archive_write_header(w, f->path, f->size, f->mode, err);
    if (rc < 0)
        return rc;
    cs_autoclose int fd = cs_open_beneath(dirfd, f->path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return cs_error_errno(err, -fd, "cannot open %s/%s", root, f->path);
    enum { CHUNK = 128 * 1024 };
    cs_autofree uint8_t *buf = malloc(CHUNK);
    cs_sha256_ctx *ctx = cs_sha256_new();
    if (!buf || !ctx) {
        cs_sha256_free(ctx);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    uint64_t total = 0;
    while (total < f->size) {
        size_t want = f->size - total < CHUNK ? (size_t)(f->size - total) : CHUNK;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cs_sha256_free(ctx);
            return cs_error_set(err, EAGAIN, "%s/%s changed while it was being packed; try again",
                                root, f->path);
        }
        cs_sha256_update(ctx, buf, (size_t)n);
        total += (uint64_t)n;
        rc = cs_archive_write_data(w, buf, (size_t)n, err);
        if (rc < 0) {
            cs_sha256_free(ctx);
            return rc;
        }
    }
    uint8_t digest[CS_SHA256_LEN];
    cs_sha256_final(ctx, digest);
    cs_sha256_free(ctx);
    char extra;
    if (!cs_digest_equal(digest, f->sha256) || read(fd, &extra, 1) != 0)
        return cs_error_set(err, EAGAIN, "%s/%s changed while it was being packed; try again", root,
                            f->path);
    return 0;
}

static int write_blob(cs_archive_writer *w, const char *path, const void *data, size_t len,
                      cs_error *err)
{
    int rc = cs_archive_write_header(w, path, len, 0644, err);
    if (rc < 0)
        return rc;
    return cs_archive_write_data(w, data, len, err);
}

/* Signing material: the private key, the certificate and chain for X.509,
 * and the signer as the index records it. */
typedef struct signing {
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) * chain;
    cs_signer signer;
} signing;

static void signing_free(signing *s)
{
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    sk_X509_pop_free(s->chain, X509_free);
}

static int load_signing(const cs_pack_options *o, signing *s, char *warning, size_t warning_size,
                        cs_error *err)
{
    int rc = cs_key_load_private(o->key_path, &s->key, err);
    if (rc < 0)
        return cs_error_prefix(err, "--key %s", o->key_path);
    if (!o->cert_path) {
        if (EVP_PKEY_get_id(s->key) != EVP_PKEY_ED25519)
            return cs_error_set(err, EINVAL,
                                "--key %s is not an Ed25519 key; pass --cert with its "
                                "certificate to sign with X.509",
                                o->key_path);
        s->signer.type = CS_SIGNER_ED25519;
        return cs_key_id(s->key, s->signer.key_id) < 0
                   ? cs_error_set(err, EINVAL, "cannot compute the key id of %s", o->key_path)
                   : 0;
    }
    rc = cs_load_certificate(o->cert_path, &s->cert, err);
    if (rc < 0)
        return cs_error_prefix(err, "--cert");
    if (o->chain_path && (rc = cs_load_certificate_chain(o->chain_path, &s->chain, err)) < 0)
        return cs_error_prefix(err, "--chain");
    if (cs_certificate_describe(s->cert, &s->signer) < 0)
        return cs_error_set(err, EINVAL, "--cert %s: cannot read the certificate", o->cert_path);
    /* Verifiers reject these certificates; the pack still succeeds so that
     * publishers and tests can make such packages on purpose. */
    uint32_t ext = X509_get_extension_flags(s->cert);
    if (!(ext & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(s->cert) & XKU_CODE_SIGN))
        snprintf(warning, warning_size,
                 "certificate '%s' lacks the codeSigning extended key usage; verifiers will "
                 "reject the package",
                 s->signer.subject);
    else if (X509_cmp_current_time(X509_get0_notAfter(s->cert)) <= 0)
        snprintf(warning, warning_size,
                 "certificate '%s' has expired; verifiers will reject the package",
                 s->signer.subject);
    else if (X509_cmp_current_time(X509_get0_notBefore(s->cert)) >= 0)
        snprintf(warning, warning_size,
                 "certificate '%s' is not valid yet; verifiers will reject the package until it is",
                 s->signer.subject);
    if (s->signer.subject_truncated)
        return cs_error_set(err, EINVAL,
                            "--cert %s: the certificate subject is longer than %zu bytes, the "
                            "limit for package signers",
                            o->cert_path, sizeof(s->signer.subject) - 1);
    return 0;
}

int cs_pack(const cs_pack_options *o, cs_pack_result *result, cs_error *err)
{
    memset(result, 0, sizeof(*result));
    cs_autoclose int dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return cs_error_errno(err, errno, "cannot open app folder %s", o->dir);

    /* A package written inside the folder would end up in the next package. */
    char real_dir[PATH_MAX], real_out_dir[PATH_MAX];
    cs_autofree char *out_dir = cs_dirname(o->out_path);
    if (out_dir && realpath(o->dir, real_dir) && realpath(out_dir, real_out_dir)) {
        size_t n = strlen(real_dir);
        if (strncmp(real_out_dir, real_dir, n) == 0 &&
            (real_out_dir[n] == '\0' || real_out_dir[n] == '/' || n == 1))
            return cs_error_set(err, EINVAL,
                                "--out %s is inside the app folder %s; write the package "
                                "outside the folder",
                                o->out_path, o->dir);
    }

    /* Manifest first, so that an invalid app fails before any other work. */
    cs_autofree uint8_t *manifest_data = NULL;
    size_t manifest_len = 0;
    int rc = cs_read_file_at(dirfd, CS_MANIFEST_NAME, CS_MANIFEST_MAX, true, &manifest_data,
                             &manifest_len, err);
    if (rc < 0)
        return cs_error_prefix(err, "%s", o->dir);
    cs_manifest manifest;
    rc = cs_manifest_parse(manifest_data, manifest_len, &manifest, err);
    if (rc < 0)
        return cs_error_prefix(err, "%s", o->dir);

    signing sg = {0};
    file_list list = {0};
    cs_index index = {0};
    char *index_text = NULL;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    char *pub_pem = NULL;
    size_t pub_len = 0;
    char *tmp = NULL;
    int out_fd = -1;
    cs_archive_writer *w = NULL;

    if ((rc = load_signing(o, &sg, result->warning, sizeof(result->warning), err)) < 0)
        goto out;
    if ((rc = collect(dirfd, "", o->dir, &list, err)) < 0)
        goto out;
    qsort(list.files, list.count, sizeof(*list.files), compare_files);
    for (size_t i = 0; i < list.count; i++) {
        if ((rc = hash_file(dirfd, o->dir, &list.files[i], err)) < 0)
            goto out;
        index.total_size += list.files[i].size;
    }
    if (index.total_size > CS_PACKAGE_MAX_BYTES) {
        rc = cs_error_set(err, EFBIG, "%s: files add up to more than %llu bytes", o->dir,
                          (unsigned long long)CS_PACKAGE_MAX_BYTES);
        goto out;
    }
    index.files = list.files;
    index.nfiles = list.count;

    /* The manifest's paths must name files of the package. */
    const char *missing_field = NULL, *missing_path = NULL;
    if (!cs_index_find(&index, manifest.main)) {
        missing_field = "main";
        missing_path = manifest.main;
    }
    for (size_t i = 0; !missing_field && manifest.windows && i < json_array_size(manifest.windows);
         i++) {
        const char *url =
            json_string_value(json_object_get(json_array_get(manifest.windows, i), "url"));
        if (!cs_index_find(&index, url)) {
            missing_field = "windows[].url";
            missing_path = url;
        }
    }
    if (missing_field) {
        rc = cs_error_set(err, ENOENT, "%s/%s: field '%s' names '%s', which is not in the folder",
                          o->dir, CS_MANIFEST_NAME, missing_field, missing_path);
        goto out;
    }
    const cs_index_file *mf = cs_index_find(&index, CS_MANIFEST_NAME);
    uint8_t manifest_digest[CS_SHA256_LEN];
    cs_sha256(manifest_data, manifest_len, manifest_digest);
    if (!mf || !cs_digest_equal(mf->sha256, manifest_digest)) {
        rc = cs_error_set(err, EAGAIN, "%s/%s changed while it was being packed; try again", o->dir,
                          CS_MANIFEST_NAME);
        goto out;
    }
    memcpy(index.manifest_sha256, manifest_digest, CS_SHA256_LEN);

    int64_t created = 0;
    if ((rc = creation_time(list.newest_mtime, &created, err)) < 0)
        goto out;
    char created_text[32];
    time_t t = (time_t)created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(created_text, sizeof(created_text), "%Y-%m-%dT%H:%M:%SZ", &tm);

    index.app_id = (char *)manifest.id;
    index.version = (char *)manifest.version;
    index.created = created_text;
    index.signer_type = sg.signer.type;
    memcpy(index.signer_key_id, sg.signer.key_id, sizeof(index.signer_key_id));
    if (sg.signer.type == CS_SIGNER_X509) {
        index.signer_subject = sg.signer.subject;
        memcpy(index.signer_cert_sha256, sg.signer.cert_sha256, sizeof(index.signer_cert_sha256));
    }
    index_text = cs_index_serialize(&index);
    if (!index_text) {
        rc = cs_error_set(err, ENOMEM, "cannot serialize the package index");
        goto out;
    }
    size_t index_len = strlen(index_text);

    if (sg.signer.type == CS_SIGNER_ED25519) {
        sig = malloc(CS_ED25519_SIG_LEN);
        sig_len = CS_ED25519_SIG_LEN;
        if (!sig) {
            rc = cs_error_set(err, ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = cs_sign_ed25519(sg.key, CS_DOMAIN_PACKAGE_INDEX, index_text, index_len, sig,
                                  err)) < 0 ||
            (rc = cs_key_public_pem(sg.key, &pub_pem, &pub_len, err)) < 0)
            goto out;
    } else {
        if ((rc = cs_sign_cms(sg.key, sg.cert, sg.chain, CS_DOMAIN_PACKAGE_INDEX, index_text,
                              index_len, &sig, &sig_len, err)) < 0)
            goto out;
    }
    /* The private key is no longer needed; EVP_PKEY_free wipes it. */
    EVP_PKEY_free(sg.key);
    sg.key = NULL;

    size_t tmp_len = strlen(o->out_path) + 16;
    tmp = malloc(tmp_len);
    if (!tmp) {
        rc = cs_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp, tmp_len, "%s.tmp-XXXXXX", o->out_path);
    out_fd = mkostemp(tmp, O_CLOEXEC);
    if (out_fd < 0) {
        rc = cs_error_errno(err, errno, "cannot create a temporary file next to %s", o->out_path);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if ((rc = cs_archive_writer_open(out_fd, created, &w, err)) < 0 ||
        (rc = write_blob(w, CS_META_INDEX, index_text, index_len, err)) < 0 ||
        (rc = write_blob(w, CS_META_SIGNATURE, sig, sig_len, err)) < 0 ||
        (pub_pem && (rc = write_blob(w, CS_META_SIGNER_KEY, pub_pem, pub_len, err)) < 0))
        goto out;
    for (size_t i = 0; i < index.nfiles; i++) {
        if ((rc = write_file(w, dirfd, o->dir, &index.files[i], err)) < 0)
            goto out;
    }
    if ((rc = cs_archive_writer_finish(w, err)) < 0)
        goto out;
    if (fchmod(out_fd, 0644) < 0 || fsync(out_fd) < 0) {
        rc = cs_error_errno(err, errno, "cannot write %s", o->out_path);
        goto out;
    }
    if (rename(tmp, o->out_path) < 0) {
        rc = cs_error_errno(err, errno, "cannot rename %s to %s", tmp, o->out_path);
        goto out;
    }
    free(tmp);
    tmp = NULL;

    snprintf(result->app_id, sizeof(result->app_id), "%s", manifest.id);
    snprintf(result->version, sizeof(result->version), "%s", manifest.version);
    result->signer = sg.signer;
    result->files = index.nfiles;
    result->bytes = index.total_size;
    rc = 0;

out:
    cs_archive_writer_free(w);
    if (out_fd >= 0)
        close(out_fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(pub_pem);
    free(sig);
    free(index_text);
    file_list_free(&list);
    signing_free(&sg);
    cs_manifest_free(&manifest);
    return rc;
}
