#include "app/package.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/path.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ORIGIN_MAX_BYTES (1024 * 1024)

/* Read a metadata file below .cashstory/ (not listed in the index). */
static int read_meta(int dir_fd, const char *path, size_t max, bool optional, uint8_t **out,
                     size_t *len, cs_error *err)
{
    *out = NULL;
    *len = 0;
    cs_autoclose int fd = cs_open_beneath(dir_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0) {
        if (fd == -ENOENT && optional)
            return 0;
        return cs_error_errno(err, -fd, "cannot open %s", path);
    }
    return cs_read_fd(fd, path, max, out, len, err);
}

static int load_index(cs_app_package *pkg, const uint8_t *expected, cs_error *err)
{
    int rc = read_meta(pkg->dir_fd, CS_META_INDEX, CS_INDEX_MAX_BYTES, false, &pkg->index_text,
                       &pkg->index_len, err);
    if (rc < 0)
        return rc;

    uint8_t digest[CS_SHA256_LEN];
    cs_sha256(pkg->index_text, pkg->index_len, digest);
    cs_hex_encode(digest, sizeof(digest), pkg->index_sha256);
    if (!cs_digest_equal(digest, expected)) {
        char expected_hex[CS_SHA256_HEX_LEN + 1];
        cs_hex_encode(expected, CS_SHA256_LEN, expected_hex);
        return cs_error_set(err, CS_EVERIFY,
                            "%s failed verification: its SHA-256 is %s but --index-sha256 is %s; "
                            "the index changed after the launcher checked it",
                            CS_META_INDEX, pkg->index_sha256, expected_hex);
    }
    rc = cs_index_parse(pkg->index_text, pkg->index_len, &pkg->index, err);
    if (rc < 0)
        return rc;

    size_t key_len = 0;
    rc = read_meta(pkg->dir_fd, CS_META_SIGNATURE, CS_SIGNATURE_MAX, false, &pkg->signature,
                   &pkg->signature_len, err);
    if (rc == 0)
        rc = read_meta(pkg->dir_fd, CS_META_SIGNER_KEY, CS_KEY_FILE_MAX, true,
                       (uint8_t **)&pkg->signer_public_key, &key_len, err);
    return rc;
}

/* origin.json is written by the installer and is not signed, so a missing
 * or malformed one only leaves the origin unknown. */
static void load_origin(cs_app_package *pkg)
{
    cs_autofree uint8_t *data = NULL;
    size_t len;
    cs_error ignored;
    if (read_meta(pkg->dir_fd, CS_META_ORIGIN, ORIGIN_MAX_BYTES, true, &data, &len, &ignored) < 0 ||
        !data)
        return;
    cs_autojson json_t *root = NULL;
    if (cs_json_parse(data, len, CS_META_ORIGIN, &root, &ignored) < 0 || !json_is_object(root))
        return;
    const char *url, *protocol;
    if (cs_json_get_string(root, "url", false, "origin", &url, &ignored) < 0 ||
        cs_json_get_string(root, "protocol", false, "origin", &protocol, &ignored) < 0)
        return;
    pkg->origin_url = strdup(url);
    pkg->origin_protocol = strdup(protocol);
    if (!pkg->origin_url || !pkg->origin_protocol) {
        free(pkg->origin_url);
        free(pkg->origin_protocol);
        pkg->origin_url = pkg->origin_protocol = NULL;
    }
}

static int load_manifest(cs_app_package *pkg, cs_error *err)
{
    cs_autofree uint8_t *data = NULL;
    size_t len;
    int rc = cs_app_package_read(pkg, CS_MANIFEST_NAME, &data, &len, err);
    if (rc < 0)
        return rc;
    rc = cs_manifest_parse(data, len, &pkg->manifest, err);
    if (rc < 0)
        return cs_error_prefix(err, "%s", CS_MANIFEST_NAME);
    if (pkg->verified && (strcmp(pkg->manifest.id, pkg->index.app_id) != 0 ||
                          strcmp(pkg->manifest.version, pkg->index.version) != 0))
        return cs_error_set(err, CS_EVERIFY,
                            "%s failed verification: it names %s %s but the signed index is for "
                            "%s %s",
                            CS_MANIFEST_NAME, pkg->manifest.id, pkg->manifest.version,
                            pkg->index.app_id, pkg->index.version);
    return 0;
}

int cs_app_package_open(cs_app_package *pkg, const char *dir, const uint8_t *expected_index_sha256,
                        cs_error *err)
{
    memset(pkg, 0, sizeof(*pkg));
    pkg->verified = expected_index_sha256 != NULL;
    /* The folder itself may be a symbolic link, such as the store's
     * apps/ID/current. No link below it is followed. */
    pkg->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pkg->dir_fd < 0)
        return cs_error_errno(err, errno, "cannot open the app folder %s", dir);

    int rc = 0;
    if (pkg->verified)
        rc = load_index(pkg, expected_index_sha256, err);
    if (rc == 0)
        rc = load_manifest(pkg, err);
    if (rc < 0) {
        cs_app_package_free(pkg);
        return rc;
    }
    load_origin(pkg);
    return 0;
}

void cs_app_package_free(cs_app_package *pkg)
{
    if (pkg->dir_fd >= 0)
        close(pkg->dir_fd);
    pkg->dir_fd = -1;
    if (pkg->verified)
        cs_index_free(&pkg->index);
    free(pkg->index_text);
    free(pkg->signature);
    free(pkg->signer_public_key);
    if (pkg->manifest.root)
        cs_manifest_free(&pkg->manifest);
    free(pkg->origin_url);
    free(pkg->origin_protocol);
    memset(pkg, 0, sizeof(*pkg));
    pkg->dir_fd = -1;
}

/* True when some listed path starts with "folder/". */
static bool index_has_folder(const cs_index *index, const char *folder)
{
    size_t n = strlen(folder);
    size_t lo = 0, hi = index->nfiles;
    /* Lower bound of the first path >= "folder/" in byte order. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *p = index->files[mid].path;
        int cmp = strncmp(p, folder, n);
        if (cmp == 0)
            cmp = (unsigned char)p[n] < (unsigned char)'/' ? -1 : 0;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < index->nfiles && strncmp(index->files[lo].path, folder, n) == 0 &&
           index->files[lo].path[n] == '/';
}

static cs_app_entry_kind disk_kind(const cs_app_package *pkg, const char *path)
{
    cs_autoclose int fd = cs_open_beneath(pkg->dir_fd, path, O_PATH, 0);
    if (fd == -ELOOP)
        return CS_APP_ENTRY_FILE;
    if (fd < 0)
        return CS_APP_ENTRY_NONE;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return CS_APP_ENTRY_NONE;
    return S_ISDIR(st.st_mode) ? CS_APP_ENTRY_FOLDER : CS_APP_ENTRY_FILE;
}

cs_app_entry_kind cs_app_package_lookup(const cs_app_package *pkg, const char *path)
{
    if (path[0] == '\0')
        return CS_APP_ENTRY_FOLDER;
    if (cs_path_is_reserved(path) || cs_path_check(path, NULL) < 0)
        return CS_APP_ENTRY_NONE;
    if (pkg->verified) {
        if (cs_index_find(&pkg->index, path))
            return CS_APP_ENTRY_FILE;
        if (index_has_folder(&pkg->index, path))
            return CS_APP_ENTRY_FOLDER;
    }
    return disk_kind(pkg, path);
}

static int read_verified(const cs_app_package *pkg, const char *path, uint8_t **out, size_t *len,
                         cs_error *err)
{
    const cs_index_file *entry = cs_index_find(&pkg->index, path);
    if (!entry)
        return cs_error_set(err, CS_EVERIFY,
                            "%s failed verification: the file is not listed in the signed "
                            "package index",
                            path);

    cs_autoclose int fd = cs_open_beneath(pkg->dir_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd == -ELOOP)
        return cs_error_set(err, CS_EVERIFY,
                            "%s failed verification: it is a symbolic link, not the signed file",
                            path);
    if (fd < 0)
        return cs_error_set(err, CS_EVERIFY, "%s failed verification: cannot open it: %s", path,
                            strerror(-fd));
    cs_autofree uint8_t *data = NULL;
    size_t used = 0;
    cs_error read_err;
    int rc = cs_read_fd(fd, path, (size_t)entry->size, &data, &used, &read_err);
    if (rc == -EFBIG || (rc == 0 && used != entry->size))
        return cs_error_set(err, CS_EVERIFY,
                            "%s failed verification: its size differs from the %llu bytes in the "
                            "signed package index",
                            path, (unsigned long long)entry->size);
    if (rc < 0)
        return cs_error_set(err, CS_EVERIFY, "%s failed verification: %s", path, read_err.message);

    uint8_t digest[CS_SHA256_LEN];
    cs_sha256(data, used, digest);
    if (!cs_digest_equal(digest, entry->sha256))
        return cs_error_set(err, CS_EVERIFY,
                            "%s failed verification: its SHA-256 differs from the signed "
                            "package index",
                            path);
    *out = cs_steal(&data);
    *len = used;
    return 0;
}

int cs_app_package_read(const cs_app_package *pkg, const char *path, uint8_t **out, size_t *len,
                        cs_error *err)
{
    int rc = cs_path_check(path, err);
    if (rc < 0)
        return cs_error_prefix(err, "cannot read app file");
    if (pkg->verified)
        return read_verified(pkg, path, out, len, err);

    cs_autoclose int fd = cs_open_beneath(pkg->dir_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd == -ELOOP)
        return cs_error_set(err, ELOOP,
                            "cannot read %s: it is a symbolic link, which the app "
                            "host does not follow",
                            path);
    if (fd < 0)
        return cs_error_errno(err, -fd, "cannot open %s", path);
    return cs_read_fd(fd, path, CS_FILE_MAX_BYTES, out, len, err);
}
