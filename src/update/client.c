/* The update client: choosing a version per app, downloading what the store
 * lacks, installing it, and the per-app state for rollbacks. The metadata
 * steps are in client_metadata.c, the rules without network in
 * client_rules.c. */
#include "update/client_internal.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"
#include "crypto/signature.h"
#include "package/index.h"
#include "package/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPOSITORIES 64
#define STATE_MAX (1024 * 1024)
#define BLOB_CACHE_DAYS 7

/* One update run. */
typedef struct run {
    const cs_update_request *req;
    time_t now;
    char machine_id[129];
    int machine_id_rc;
    cs_error machine_id_err;
    char update_dir[PATH_MAX];
    char blobs_dir[PATH_MAX];
    char staging_dir[PATH_MAX];
    cs_policy_repository repos[MAX_REPOSITORIES];
    size_t nrepos;
    repo_session sessions[MAX_REPOSITORIES];
    bool session_open[MAX_REPOSITORIES];
} run;

static void say(const run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const run *r, const char *fmt, ...)
{
    if (!r->req->log)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    r->req->log(r->req->log_ctx, line);
}

static void set_reason(cs_update_app *app, cs_update_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_reason(cs_update_app *app, cs_update_status status, const char *fmt, ...)
{
    app->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->reason, sizeof(app->reason), fmt, ap);
    va_end(ap);
}

/* Take STORE/update/lock, creating the update folders. Returns the fd. */
static int lock_update_dir(const char *store, char *update_dir, size_t size, cs_error *err)
{
    snprintf(update_dir, size, "%s/update", store);
    int rc = cs_mkdir_p(update_dir, 0755, err);
    if (rc < 0)
        return rc;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/lock", update_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot open %s", path);
    if (flock(fd, LOCK_EX) < 0) {
        rc = cs_error_errno(err, errno, "cannot lock %s", path);
        close(fd);
        return rc;
    }
    return fd;
}

/* Per-app state: STORE/update/apps/ID.json. */

static void state_path(const char *store, const char *id, char *out, size_t size)
{
    snprintf(out, size, "%s/update/apps/%s.json", store, id);
}

/* The state of id as a new object; an empty one when there is none. */
static json_t *state_load(const char *store, const char *id)
{
    char path[PATH_MAX];
    state_path(store, id, path, sizeof(path));
    uint8_t *data = NULL;
    size_t len = 0;
    json_t *state = NULL;
    if (cs_read_file_at(AT_FDCWD, path, STATE_MAX, true, &data, &len, NULL) == 0)
        cs_json_parse(data, len, path, &state, NULL);
    free(data);
    if (!json_is_object(state)) {
        json_decref(state);
        state = json_object();
    }
    return state;
}

static int state_save(const char *store, const char *id, json_t *state, cs_error *err)
{
    char path[PATH_MAX];
    state_path(store, id, path, sizeof(path));
    cs_autofree char *dir = cs_dirname(path);
    cs_autofree char *text = cs_json_dump_canonical(state);
    if (!dir || !text)
        return cs_error_set(err, ENOMEM, "out of memory");
    int rc = cs_mkdir_p(dir, 0755, err);
    if (rc < 0)
        return rc;
    return cs_write_file_atomic(path, text, strlen(text), 0644, err);
}

/* The entry of "rejected" for version, or NULL. */
static json_t *state_rejected(json_t *state, const char *version, size_t *position)
{
    json_t *list = json_object_get(state, "rejected");
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry)
    {
        const char *v = json_string_value(json_object_get(entry, "version"));
        if (v && strcmp(v, version) == 0) {
            if (position)
                *position = i;
            return entry;
        }
    }
    return NULL;
}

static void format_time(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Record that the update installed version over from. */
static int state_note_install(const char *store, const char *id, const char *version,
                              const char *from, time_t now, cs_error *err)
{
    cs_autojson json_t *state = state_load(store, id);
    char at[32];
    format_time(now, at);
    json_object_set_new(state, "last_update",
                        json_pack("{s:s, s:s, s:s, s:I, s:b}", "version", version, "from",
                                  from[0] ? from : "", "at", at, "at_epoch", (json_int_t)now,
                                  "confirmed", 0));
    return state_save(store, id, state, err);
}

/* Copying and downloading files into the staging folder. */

/* Create rel below dirfd with its missing parent folders. */
static int create_staged(int dirfd, const char *rel, cs_error *err)
{
    char path[PATH_MAX];
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

/* Copy the file at source to rel below stage_fd, hashing it on the way; it
 * must have exactly size bytes with digest. Returns -CS_EVERIFY (and
 * removes the copy) when it does not. */
static int copy_verified(const char *source, int stage_fd, const char *rel, uint64_t size,
                         const uint8_t digest[CS_SHA256_LEN], unsigned mode, cs_error *err)
{
    cs_autoclose int in = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return cs_error_errno(err, errno, "cannot open %s", source);
    cs_autoclose int out = create_staged(stage_fd, rel, err);
    if (out < 0)
        return out;
    cs_sha256_ctx *sha = cs_sha256_new();
    cs_autofree uint8_t *buf = malloc(128 * 1024);
    if (!sha || !buf) {
        cs_sha256_free(sha);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, 128 * 1024);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cs_error_errno(err, errno, "cannot read %s", source);
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > size)
            break;
        cs_sha256_update(sha, buf, (size_t)n);
        int w = cs_write_all(out, buf, (size_t)n);
        if (w < 0) {
            rc = cs_error_errno(err, -w, "cannot write '%s'", rel);
            break;
        }
    }
    uint8_t got[CS_SHA256_LEN];
    cs_sha256_final(sha, got);
    cs_sha256_free(sha);
    if (rc == 0 && (total != size || !cs_digest_equal(got, digest)))
        rc =
            cs_error_set(err, CS_EVERIFY, "%s does not have the expected size and SHA-256", source);
    if (rc == 0 && fchmod(out, mode) < 0)
        rc = cs_error_errno(err, errno, "cannot set the mode of '%s'", rel);
    if (rc < 0)
        unlinkat(stage_fd, rel, 0);
    return rc;
}

/* The versions of an app in the store (current, previous and a staged
 * next), whose files an update copies instead of downloading them. */
#define LOCAL_VERSIONS 3

typedef struct local_version {
    char *dir;
    char *version;
    cs_index index;
    bool have_index;
    const cs_index_file **by_digest; /* index.files sorted by SHA-256 */
} local_version;

typedef struct local_files {
    local_version versions[LOCAL_VERSIONS];
} local_files;

static int compare_digest(const void *a, const void *b)
{
    const cs_index_file *x = *(const cs_index_file *const *)a;
    const cs_index_file *y = *(const cs_index_file *const *)b;
    return memcmp(x->sha256, y->sha256, CS_SHA256_LEN);
}

static void local_version_load(const char *store, const char *id, const char *link,
                               local_version *v)
{
    if (cs_store_link_version(store, id, link, &v->dir, &v->version, NULL) < 0)
        return;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", v->dir, CS_META_INDEX);
    uint8_t *data = NULL;
    size_t len = 0;
    if (cs_read_file(path, CS_INDEX_MAX_BYTES, &data, &len, NULL) < 0)
        return;
    v->have_index = cs_index_parse(data, len, &v->index, NULL) == 0;
    free(data);
    if (!v->have_index)
        return;
    v->by_digest = calloc(v->index.nfiles ? v->index.nfiles : 1, sizeof(*v->by_digest));
    if (!v->by_digest)
        return;
    for (size_t i = 0; i < v->index.nfiles; i++)
        v->by_digest[i] = &v->index.files[i];
    qsort(v->by_digest, v->index.nfiles, sizeof(*v->by_digest), compare_digest);
}

static void local_files_load(const char *store, const char *id, local_files *f)
{
    static const char *const links[LOCAL_VERSIONS] = {"current", "previous", "next"};
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < LOCAL_VERSIONS; i++)
        local_version_load(store, id, links[i], &f->versions[i]);
}

static void local_files_free(local_files *f)
{
    for (size_t i = 0; i < LOCAL_VERSIONS; i++) {
        local_version *v = &f->versions[i];
        free(v->dir);
        free(v->version);
        free(v->by_digest);
        if (v->have_index)
            cs_index_free(&v->index);
    }
}

/* The path in version v of a file that may have this digest and size, in
 * buf, or NULL. The index does not list the package's own metadata (rel
 * below .cashstory/), so that is looked up by its path. The copy checks the
 * digest either way. */
static const char *local_file(const local_version *v, const uint8_t digest[CS_SHA256_LEN],
                              uint64_t size, const char *rel, char *buf, size_t bufsize)
{
    if (!v->dir)
        return NULL;
    if (strncmp(rel, CS_META_DIR "/", strlen(CS_META_DIR) + 1) == 0) {
        snprintf(buf, bufsize, "%s/%s", v->dir, rel);
        return buf;
    }
    if (!v->by_digest)
        return NULL;
    cs_index_file want = {.size = size};
    memcpy(want.sha256, digest, CS_SHA256_LEN);
    const cs_index_file *key = &want;
    const cs_index_file **hit =
        bsearch(&key, v->by_digest, v->index.nfiles, sizeof(*v->by_digest), compare_digest);
    if (!hit || (*hit)->size != size)
        return NULL;
    snprintf(buf, bufsize, "%s/%s", v->dir, (*hit)->path);
    return buf;
}

/* Add to the message of a failed blob download which file of which version
 * it was and what to do about it. */
static int blob_failed(const repo_session *s, const cs_update_app *app, const char *rel, int rc,
                       cs_error *err)
{
    cs_error_prefix(err, "%s of %s %s", rel, app->id, app->target);
    if (rc == -ENOENT)
        update_error_append(err, "; the repository lacks this file, so tell its publisher (who can "
                                 "find such gaps with 'cashstory repo verify')");
    else if (rc == -CS_EVERIFY || rc == -EFBIG)
        update_error_append(err,
                            "; the repository or the server sent other content than the signed "
                            "metadata lists, so tell the publisher of repository '%s' (who can "
                            "check it with 'cashstory repo verify')",
                            s->config.name);
    return repo_fetch_failed(s, rc, err);
}

/* Put the blob with this digest and size at rel below stage_fd: copied
 * from a version in the store, else from the blob cache, else downloaded
 * into the cache first. */
static int stage_blob(run *r, repo_session *s, const uint8_t digest[CS_SHA256_LEN], uint64_t size,
                      const local_files *local, int stage_fd, const char *rel, unsigned mode,
                      cs_update_app *app, cs_error *err)
{
    /* Only the package's own files count in files_downloaded and
     * files_reused; its index, signature and key do not. */
    bool app_file = strncmp(rel, CS_META_DIR "/", strlen(CS_META_DIR) + 1) != 0;
    char hex[CS_SHA256_HEX_LEN + 1];
    cs_hex_encode(digest, CS_SHA256_LEN, hex);
    for (size_t i = 0; i < LOCAL_VERSIONS; i++) {
        char path[PATH_MAX * 2];
        const char *source = local_file(&local->versions[i], digest, size, rel, path, sizeof(path));
        if (source && copy_verified(source, stage_fd, rel, size, digest, mode, NULL) == 0) {
            app->files_reused += app_file;
            return 0;
        }
    }
    char cached[PATH_MAX + 80];
    snprintf(cached, sizeof(cached), "%s/%s", r->blobs_dir, hex);
    if (access(cached, F_OK) == 0) {
        int rc = copy_verified(cached, stage_fd, rel, size, digest, mode, err);
        if (rc == 0)
            app->files_reused += app_file;
        if (rc != -CS_EVERIFY)
            return rc;
        unlink(cached);
    }

    cs_autofree char *url = repo_blob_url(s, hex);
    if (!url)
        return cs_error_set(err, ENOMEM, "out of memory");
    say(r, "%s: downloading %s (%" PRIu64 " bytes) from %s", app->id, rel, size, url);
    cs_fetch_stats stats = {0};
    int rc = cs_fetch_file(&s->fetch, url, cached, size, digest, &stats, err);
    app->bytes_downloaded += stats.bytes_received;
    if (rc < 0)
        return blob_failed(s, app, rel, rc, err);
    app->files_downloaded += app_file;
    if (stats.resumed_from > 0)
        say(r, "%s: resumed %s at byte %" PRIu64, app->id, rel, stats.resumed_from);
    return copy_verified(cached, stage_fd, rel, size, digest, mode, err);
}

static int decode_digest(const char *hex, uint8_t out[CS_SHA256_LEN], cs_error *err)
{
    if (cs_hex_decode(hex, out, CS_SHA256_LEN) < 0)
        return cs_error_set(err, EINVAL, "invalid SHA-256 '%s' in repository metadata", hex);
    return 0;
}

/* Check the publisher signature of the staged index before any app file is
 * downloaded, so that a package of an untrusted publisher costs three small
 * downloads at most. */
static int check_publisher(run *r, int stage_fd, const cs_meta_target *target, cs_error *err)
{
    cs_autofree uint8_t *index = NULL, *sig = NULL, *pub = NULL;
    size_t index_len = 0, sig_len = 0, pub_len = 0;
    int rc =
        cs_read_file_at(stage_fd, CS_META_INDEX, CS_INDEX_MAX_BYTES, true, &index, &index_len, err);
    if (rc == 0)
        rc = cs_read_file_at(stage_fd, CS_META_SIGNATURE, CS_SIGNATURE_MAX, true, &sig, &sig_len,
                             err);
    if (rc == 0 && target->has_signer_key)
        rc = cs_read_file_at(stage_fd, CS_META_SIGNER_KEY, 256 * 1024, true, &pub, &pub_len, err);
    if (rc < 0)
        return rc;

    cs_signer signer;
    memset(&signer, 0, sizeof(signer));
    if (target->has_signer_key) {
        cs_autopkey EVP_PKEY *key = NULL;
        rc = cs_key_parse_public(pub, pub_len, &key, err);
        if (rc == 0)
            rc = cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, index, index_len, sig, sig_len,
                                   r->req->trust, &signer, err);
    } else {
        rc = cs_verify_cms(sig, sig_len, CS_DOMAIN_PACKAGE_INDEX, index, index_len, r->req->trust,
                           &signer, err);
    }
    if (rc < 0)
        return rc;
    if (!signer.trusted)
        return cs_error_set(err, CS_EUNTRUSTED, "the package signer %s is not trusted: %s",
                            signer.type == CS_SIGNER_X509 ? signer.subject : signer.key_id,
                            signer.trust_note);
    return 0;
}

/* Check the staged manifest's "runtime" range. Returns 1, with the reason
 * in app->reason, when the runtime of this desktop does not satisfy it. */
static int check_runtime(run *r, int stage_fd, cs_update_app *app, cs_error *err)
{
    cs_manifest manifest;
    int rc = cs_manifest_load(stage_fd, NULL, &manifest, err);
    if (rc < 0)
        return rc;
    int held = 0;
    cs_runtime_choice runtime;
    cs_error why = {0};
    if (manifest.runtime && strcmp(app->id, CS_RUNTIME_APP_ID) != 0 &&
        cs_runtime_select(r->req->store, manifest.runtime, NULL, "", &runtime, &why) < 0) {
        set_reason(app, CS_UPDATE_HELD, "%s needs a runtime this desktop lacks: %s", app->target,
                   why.message);
        held = 1;
    }
    cs_manifest_free(&manifest);
    return held;
}

/* Download target into a staging folder below STORE/update/staging and
 * install it. */
static int download_and_install(run *r, repo_session *s, const cs_meta_target *target,
                                const cs_policy_update *settings, cs_update_app *app, cs_error *err)
{
    const char *store = r->req->store;
    int rc = cs_mkdir_p(r->staging_dir, 0755, err);
    if (rc == 0)
        rc = cs_mkdir_p(r->blobs_dir, 0755, err);
    if (rc < 0)
        return rc;
    cs_autoclose int staging_fd =
        open(r->staging_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (staging_fd < 0)
        return cs_error_errno(err, errno, "cannot open %s", r->staging_dir);

    /* A folder left by an interrupted run is rebuilt from the blob cache. */
    char name[CS_APP_ID_MAX + CS_VERSION_MAX + 2];
    snprintf(name, sizeof(name), "%s-%s", app->id, app->target);
    cs_remove_tree_at(staging_fd, name);
    if (mkdirat(staging_fd, name, 0755) < 0)
        return cs_error_errno(err, errno, "cannot create %s/%s", r->staging_dir, name);
    char stage_path[PATH_MAX * 2];
    snprintf(stage_path, sizeof(stage_path), "%s/%s", r->staging_dir, name);
    cs_autoclose int stage_fd =
        openat(staging_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (stage_fd < 0)
        return cs_error_errno(err, errno, "cannot open %s", stage_path);

    local_files local;
    local_files_load(store, app->id, &local);
    cs_index index;
    bool have_index = false;

    /* The signed metadata first: index, signature and signer key. */
    struct {
        const cs_meta_hashed *hash;
        const char *rel;
        bool present;
    } meta[] = {
        {&target->index, CS_META_INDEX, true},
        {&target->signature, CS_META_SIGNATURE, true},
        {&target->signer_key, CS_META_SIGNER_KEY, target->has_signer_key},
    };
    for (size_t i = 0; rc == 0 && i < sizeof(meta) / sizeof(meta[0]); i++) {
        if (!meta[i].present)
            continue;
        uint8_t digest[CS_SHA256_LEN];
        rc = decode_digest(meta[i].hash->sha256, digest, err);
        if (rc == 0)
            rc = stage_blob(r, s, digest, meta[i].hash->size, &local, stage_fd, meta[i].rel, 0444,
                            app, err);
    }
    if (rc == 0) {
        cs_autofree uint8_t *data = NULL;
        size_t len = 0;
        rc = cs_read_file_at(stage_fd, CS_META_INDEX, CS_INDEX_MAX_BYTES, true, &data, &len, err);
        if (rc == 0)
            rc = cs_index_parse(data, len, &index, err);
        have_index = rc == 0;
    }
    if (rc == 0 && (strcmp(index.app_id, app->id) != 0 || strcmp(index.version, app->target) != 0 ||
                    strcmp(index.signer_key_id, target->signer_key_id) != 0))
        rc = cs_error_set(err, CS_EVERIFY,
                          "the package index names %s %s signed by %s, but the repository lists "
                          "%s %s signed by %s",
                          index.app_id, index.version, index.signer_key_id, app->id, app->target,
                          target->signer_key_id);
    if (rc == 0)
        rc = check_publisher(r, stage_fd, target, err);
    if (rc == 0)
        app->files_total = (unsigned)index.nfiles;

    /* The manifest next, so that a runtime mismatch stops before the rest. */
    const cs_index_file *manifest = rc == 0 ? cs_index_find(&index, CS_MANIFEST_NAME) : NULL;
    if (rc == 0 && manifest) {
        rc = stage_blob(r, s, manifest->sha256, manifest->size, &local, stage_fd, manifest->path,
                        manifest->mode & 0555, app, err);
        if (rc == 0)
            rc = check_runtime(r, stage_fd, app, err);
    }
    bool held = rc == 1;
    if (held)
        rc = 0;

    for (size_t i = 0; rc == 0 && !held && i < index.nfiles; i++) {
        const cs_index_file *f = &index.files[i];
        if (f == manifest)
            continue;
        rc = stage_blob(r, s, f->sha256, f->size, &local, stage_fd, f->path, f->mode & 0555, app,
                        err);
    }

    if (rc == 0 && !held) {
        bool activate = !(settings->at_next_start && app->installed[0]);
        cs_verify_result res;
        const char *protocol = strncasecmp(s->base_url, "http://", 7) == 0 ? "http" : "https";
        say(r, "%s: installing %s", app->id, app->target);
        rc = cs_store_install_dir(store, stage_path, r->req->trust, s->base_url, protocol, activate,
                                  &res, err);
        if (rc < 0 && (rc == -CS_EVERIFY || rc == -CS_EUNTRUSTED) && res.report.stored > 0)
            cs_error_prefix(err, "%s", res.report.problems[0]);
        cs_verify_result_free(&res);
        if (rc == 0) {
            if (activate)
                set_reason(app, CS_UPDATE_INSTALLED, "installed %s%s%s", app->target,
                           app->installed[0] ? " over " : "", app->installed);
            else
                set_reason(app, CS_UPDATE_STAGED,
                           "%s is downloaded and becomes current when the app next starts "
                           "(policy: apply at next start)",
                           app->target);
            /* A staged version is on probation from its first start too. */
            cs_error note_err = {0};
            if (state_note_install(store, app->id, app->target, app->installed, r->now, &note_err) <
                0)
                say(r, "%s: cannot record the update: %s", app->id, note_err.message);
        }
    }

    /* The downloaded blobs are in the store now; the cache keeps only what
     * an interrupted run left. */
    if (rc == 0 && have_index) {
        char cached[PATH_MAX + 80];
        for (size_t i = 0; i < index.nfiles; i++) {
            char hex[CS_SHA256_HEX_LEN + 1];
            cs_hex_encode(index.files[i].sha256, CS_SHA256_LEN, hex);
            snprintf(cached, sizeof(cached), "%s/%s", r->blobs_dir, hex);
            unlink(cached);
        }
        for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
            snprintf(cached, sizeof(cached), "%s/%s", r->blobs_dir, meta[i].hash->sha256);
            unlink(cached);
        }
    }
    if (have_index)
        cs_index_free(&index);
    local_files_free(&local);
    cs_remove_tree_at(staging_fd, name);
    return rc;
}

/* Remove cached blobs and partial downloads that no run used for
 * BLOB_CACHE_DAYS, such as those of a version that was never installed. */
static void prune_blob_cache(const run *r)
{
    DIR *d = opendir(r->blobs_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (sb.st_mtime < r->now - (time_t)BLOB_CACHE_DAYS * 86400)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

/* The session of the repository named by settings, refreshed once per run. */
static int session_for(run *r, const cs_policy_update *settings, repo_session **out, cs_error *err)
{
    *out = NULL;
    if (!settings->repository[0]) {
        if (r->nrepos == 0)
            return cs_error_set(err, ENOENT,
                                "the policy in %s lists no update repository (add "
                                "\"repositories\" to a policy file there, see docs/update.md)",
                                r->req->policy_location ? r->req->policy_location
                                                        : "the policy location");
        return cs_error_set(err, ENOENT,
                            "policy lists several repositories but names none for this app "
                            "(set update.repository)");
    }
    size_t i = 0;
    while (i < r->nrepos && strcmp(r->repos[i].name, settings->repository) != 0)
        i++;
    if (i == r->nrepos)
        return cs_error_set(err, ENOENT, "policy names repository '%s' but does not list it",
                            settings->repository);
    repo_session *s = &r->sessions[i];
    if (!r->session_open[i]) {
        r->session_open[i] = true;
        int rc = repo_session_init(s, &r->repos[i], r->req->store, r->now, &s->refresh_err);
        if (rc == 0)
            rc = repo_refresh(s, &s->refresh_err);
        s->refreshed = true;
        s->refresh_rc = rc;
    }
    if (s->refresh_rc < 0) {
        if (err)
            *err = s->refresh_err;
        return s->refresh_rc;
    }
    *out = s;
    return 0;
}

/* Handle a target that an earlier run staged as "next". Returns 1 when it
 * did (the status is set), 0 when the target is not staged. */
static int staged_already(run *r, bool at_next_start, cs_update_app *app, cs_error *err)
{
    cs_autofree char *staged = NULL;
    if (!app->installed[0] ||
        cs_store_link_version(r->req->store, app->id, "next", NULL, &staged, NULL) < 0 ||
        strcmp(staged, app->target) != 0)
        return 0;
    if (at_next_start) {
        set_reason(app, CS_UPDATE_STAGED, "%s is staged and becomes current at the next start",
                   app->target);
        return 1;
    }
    /* Policy changed to "immediately" since the version was staged. */
    if (r->req->check_only) {
        set_reason(app, CS_UPDATE_AVAILABLE, "%s would be installed (it is staged already)",
                   app->target);
        return 1;
    }
    bool activated = false;
    int rc = cs_store_activate_next(r->req->store, app->id, &activated, err);
    if (rc < 0)
        return rc;
    set_reason(app, CS_UPDATE_INSTALLED, "installed %s over %s (staged earlier)", app->target,
               app->installed);
    return 1;
}

/* Decide and act for one app. Returns a negative code when it failed. */
static int update_app(run *r, const char *id, const cs_installed_app *installed, cs_update_app *app,
                      cs_error *err)
{
    cs_policy_update settings;
    cs_policy_update_settings(r->req->policy, id, installed ? installed->signer : NULL, &settings);
    snprintf(app->channel, sizeof(app->channel), "%s", settings.channel);
    snprintf(app->repository, sizeof(app->repository), "%s", settings.repository);
    if (settings.denied[0]) {
        set_reason(app, CS_UPDATE_HELD, "%s", settings.denied);
        app->policy_error = true;
        return 0;
    }

    repo_session *s = NULL;
    int rc = session_for(r, &settings, &s, err);
    if (rc < 0)
        return rc;
    const cs_meta *targets = NULL;
    rc = repo_targets_for(s, id, &targets, err);
    if (rc < 0)
        return rc;

    /* An app installed from a file, which the repository does not publish,
     * stays as it is when the run covers every installed app. */
    const json_t *listed = json_object_get(cs_meta_signed(targets), "targets");
    if (!json_object_get(listed, id)) {
        if (r->req->nids == 0 && installed) {
            set_reason(app, CS_UPDATE_CURRENT, "repository '%s' does not publish it; %s stays",
                       settings.repository, installed->version);
            return 0;
        }
        return cs_error_set(err, ENOENT, "repository '%s' (%s) does not publish app '%s'",
                            settings.repository, s->base_url, id);
    }

    cs_meta_target target;
    const char *installed_version = app->installed;
    if (settings.pinned[0]) {
        rc = cs_meta_find_target(targets, id, NULL, settings.pinned, &target, err);
        if (rc == -ENOENT)
            return cs_error_set(err, ENOENT,
                                "policy pins version %s, but repository '%s' (%s) has no version "
                                "'%s' of app '%s'",
                                settings.pinned, settings.repository, s->base_url, settings.pinned,
                                id);
        if (rc < 0)
            return rc;
        snprintf(app->target, sizeof(app->target), "%s", settings.pinned);
        if (strcmp(installed_version, settings.pinned) == 0) {
            cs_meta_target offered;
            if (cs_meta_find_target(targets, id, settings.channel, NULL, &offered, NULL) == 0 &&
                strcmp(offered.version, settings.pinned) != 0)
                set_reason(app, CS_UPDATE_PINNED, "pinned to %s by policy; channel %s offers %s",
                           settings.pinned, settings.channel, offered.version);
            else
                set_reason(app, CS_UPDATE_CURRENT, "pinned to %s by policy, which is installed",
                           settings.pinned);
            return 0;
        }
    } else {
        rc = cs_meta_find_target(targets, id, settings.channel, NULL, &target, err);
        if (rc == -ENOENT)
            return cs_error_set(err, ENOENT,
                                "repository '%s' (%s) has no version of app '%s' on channel '%s' "
                                "(check update.channel in policy)",
                                settings.repository, s->base_url, id, settings.channel);
        if (rc < 0)
            return rc;
        snprintf(app->target, sizeof(app->target), "%s", target.version);
        int order = installed_version[0] ? cs_semver_compare(target.version, installed_version) : 1;
        if (order == 0) {
            set_reason(app, CS_UPDATE_CURRENT, "%s is current on channel %s", target.version,
                       settings.channel);
            return 0;
        }
        if (order < 0) {
            set_reason(app, CS_UPDATE_CURRENT,
                       "installed %s is newer than %s on channel %s; updates never go back",
                       installed_version, target.version, settings.channel);
            return 0;
        }
        if (settings.range[0] && !cs_semver_range_match(settings.range, target.version)) {
            set_reason(app, CS_UPDATE_HELD, "%s is outside the allowed range '%s'", target.version,
                       settings.range);
            return 0;
        }
        if (settings.minimum[0] && cs_semver_valid(settings.minimum) &&
            cs_semver_compare(target.version, settings.minimum) < 0) {
            set_reason(app, CS_UPDATE_HELD, "%s is below the minimum version %s", target.version,
                       settings.minimum);
            return 0;
        }
        cs_autojson json_t *state = state_load(r->req->store, id);
        json_t *rejected = state_rejected(state, target.version, NULL);
        if (rejected) {
            const char *why = json_string_value(json_object_get(rejected, "reason"));
            set_reason(app, CS_UPDATE_HELD,
                       "%s was rolled back on this desktop (%s); update installs the next "
                       "version that channel %s names, or run 'cashstory rollback %s' to return "
                       "to %s and accept it",
                       target.version, why ? why : "no reason recorded", settings.channel, id,
                       target.version);
            return 0;
        }
        /* A first install has no older version to stay on, so the rollout
         * applies to updates only. */
        if (installed_version[0]) {
            if (r->machine_id_rc < 0 && settings.rollout_percent < 100) {
                set_reason(app, CS_UPDATE_NOT_IN_ROLLOUT,
                           "staged rollout at %u%% and no machine id: %s", settings.rollout_percent,
                           r->machine_id_err.message);
                return 0;
            }
            if (settings.rollout_percent < 100 &&
                !cs_update_in_rollout(r->machine_id, id, settings.rollout_percent)) {
                set_reason(app, CS_UPDATE_NOT_IN_ROLLOUT,
                           "%s is rolled out to %u%% of desktops; this desktop's bucket is "
                           "%u.%02u%%",
                           target.version, settings.rollout_percent,
                           cs_update_rollout_bucket(r->machine_id, id) / 100,
                           cs_update_rollout_bucket(r->machine_id, id) % 100);
                return 0;
            }
        }
    }

    if (!cs_update_window_valid(settings.window)) {
        set_reason(app, CS_UPDATE_HELD, "the update window '%s' is invalid (expected HH:MM-HH:MM)",
                   settings.window);
        app->policy_error = true;
        return 0;
    }
    rc = staged_already(r, settings.at_next_start, app, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (!cs_update_in_window(settings.window, r->now)) {
        set_reason(app, CS_UPDATE_OUTSIDE_WINDOW, "%s waits for the update window %s (local time)",
                   app->target, settings.window);
        return 0;
    }
    if (r->req->check_only) {
        set_reason(app, CS_UPDATE_AVAILABLE, "%s would be %s%s", app->target,
                   settings.at_next_start && installed_version[0] ? "staged for the next start"
                                                                  : "installed",
                   settings.pinned[0] ? " (pinned by policy)" : "");
        return 0;
    }
    say(r, "%s: updating %s to %s from repository '%s'", id,
        installed_version[0] ? installed_version : "(not installed)", app->target,
        settings.repository);
    return download_and_install(r, s, &target, &settings, app, err);
}

int cs_update_run(const cs_update_request *req, cs_update_app **apps_out, size_t *count,
                  cs_error *err)
{
    *apps_out = NULL;
    *count = 0;
    run *r = calloc(1, sizeof(*r));
    if (!r)
        return cs_error_set(err, ENOMEM, "out of memory");
    r->req = req;
    r->now = req->now ? req->now : time(NULL);
    int rc = 0;
    cs_installed_app *installed = NULL;
    size_t ninstalled = 0;
    cs_update_app *apps = NULL;
    size_t napps = 0;

    int lock_fd = lock_update_dir(req->store, r->update_dir, sizeof(r->update_dir), err);
    if (lock_fd < 0) {
        free(r);
        return lock_fd;
    }
    snprintf(r->blobs_dir, sizeof(r->blobs_dir), "%s/blobs/sha256", r->update_dir);
    snprintf(r->staging_dir, sizeof(r->staging_dir), "%s/staging", r->update_dir);
    r->nrepos = cs_policy_repositories(req->policy, r->repos, MAX_REPOSITORIES);
    if (req->machine_id)
        snprintf(r->machine_id, sizeof(r->machine_id), "%s", req->machine_id);
    else
        r->machine_id_rc = cs_update_machine_id(r->machine_id, &r->machine_id_err);

    rc = cs_store_list(req->store, &installed, &ninstalled, err);
    if (rc < 0)
        goto out;
    napps = req->nids ? req->nids : ninstalled;
    apps = calloc(napps ? napps : 1, sizeof(*apps));
    if (!apps) {
        rc = cs_error_set(err, ENOMEM, "out of memory");
        goto out;
    }

    for (size_t i = 0; i < napps; i++) {
        const char *id = req->nids ? req->ids[i] : installed[i].id;
        cs_update_app *app = &apps[i];
        snprintf(app->id, sizeof(app->id), "%s", id);
        cs_error app_err = {0};
        if (cs_app_id_check(id, &app_err) < 0) {
            app->error = -EINVAL;
            set_reason(app, CS_UPDATE_FAILED, "%s", app_err.message);
            continue;
        }
        const cs_installed_app *current = NULL;
        for (size_t k = 0; k < ninstalled; k++) {
            if (strcmp(installed[k].id, id) == 0)
                current = &installed[k];
        }
        if (current)
            snprintf(app->installed, sizeof(app->installed), "%s", current->version);
        int app_rc = update_app(r, id, current, app, &app_err);
        if (app_rc < 0) {
            app->error = app_rc;
            set_reason(app, CS_UPDATE_FAILED, "%s", app_err.message);
        }
    }
    *apps_out = cs_steal(&apps);
    *count = napps;
    prune_blob_cache(r);

out:
    free(apps);
    cs_store_list_free(installed, ninstalled);
    for (size_t i = 0; i < MAX_REPOSITORIES; i++) {
        if (r->session_open[i])
            repo_session_free(&r->sessions[i]);
    }
    free(r);
    close(lock_fd);
    return rc;
}

int cs_update_rollback(const char *store, const char *id, const char *reason, char **from,
                       char **to, cs_error *err)
{
    *from = *to = NULL;
    char update_dir[PATH_MAX];
    int lock_fd = lock_update_dir(store, update_dir, sizeof(update_dir), err);
    if (lock_fd < 0)
        return lock_fd;
    int rc = cs_store_rollback(store, id, from, to, err);
    if (rc == 0 && *from) {
        cs_autojson json_t *state = state_load(store, id);
        json_t *list = json_object_get(state, "rejected");
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(state, "rejected", list);
        }
        /* Rolling back to a version accepts it again. */
        size_t position;
        if (state_rejected(state, *to, &position))
            json_array_remove(list, position);
        if (!state_rejected(state, *from, NULL)) {
            char at[32];
            format_time(time(NULL), at);
            json_array_append_new(
                list, json_pack("{s:s, s:s, s:s}", "version", *from, "reason", reason, "at", at));
        }
        json_object_del(state, "last_update");
        rc = state_save(store, id, state, err);
        if (rc < 0)
            cs_error_prefix(err, "rolled back %s to %s, but cannot record it", id, *to);
    }
    close(lock_fd);
    return rc;
}

int cs_update_note_exit(const char *store, const char *id, const char *version, time_t started,
                        time_t ended, bool failed, unsigned grace_seconds, bool *should_roll_back,
                        cs_error *err)
{
    *should_roll_back = false;
    if (cs_app_id_check(id, NULL) < 0)
        return cs_error_set(err, EINVAL, "invalid app id '%s'", id);
    char update_dir[PATH_MAX];
    int lock_fd = lock_update_dir(store, update_dir, sizeof(update_dir), err);
    if (lock_fd < 0)
        return lock_fd;
    int rc = 0;
    cs_autojson json_t *state = state_load(store, id);
    json_t *last = json_object_get(state, "last_update");
    const char *last_version = json_string_value(json_object_get(last, "version"));
    bool on_probation = last_version && strcmp(last_version, version) == 0 &&
                        !json_is_true(json_object_get(last, "confirmed"));
    if (on_probation) {
        bool within_grace = ended - started < (time_t)grace_seconds;
        if (failed && within_grace) {
            *should_roll_back = true;
        } else if (!failed || !within_grace) {
            /* It ran past the grace period or ended cleanly: keep it. */
            json_object_set_new(last, "confirmed", json_true());
            rc = state_save(store, id, state, err);
        }
    }
    close(lock_fd);
    return rc;
}
