/* repo verify: check a repository folder the way a client would, then every
 * blob that a listed version needs. */
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"
#include "crypto/digest.h"
#include "crypto/signature.h"
#include "package/index.h"
#include "update/repo_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct verifier {
    const char *dir;
    int blobs_fd;
    time_t now;
    json_t *checked; /* set of blob digests already checked */
    cs_repo_summary *summary;
} verifier;

static int load(const verifier *v, const char *name, cs_meta_type type, size_t max, cs_meta **out,
                cs_error *err)
{
    cs_autofree char *path = cs_repo_path(v->dir, name);
    if (!path)
        return cs_error_set(err, ENOMEM, "out of memory");
    return cs_meta_load(path, type, max, out, err);
}

/* Check that the plain name contains the same bytes as the versioned copy. */
static int check_same(const verifier *v, const char *name, const cs_meta *versioned,
                      cs_meta_type type, size_t max, cs_error *err)
{
    cs_meta *plain = NULL;
    int rc = load(v, name, type, max, &plain, err);
    if (rc < 0)
        return rc;
    if (strcmp(cs_meta_file_hash(plain)->sha256, cs_meta_file_hash(versioned)->sha256) != 0)
        rc = cs_error_set(err, CS_EVERIFY, "%s/%s differs from %s, which the metadata names",
                          v->dir, name, cs_meta_name(versioned));
    cs_meta_free(plain);
    return rc;
}

/* Read blob hex fully: its size and SHA-256 must be as listed. With data,
 * also return its bytes (for small blobs). */
static int check_blob(verifier *v, const char *hex, uint64_t size, uint8_t **data, cs_error *err)
{
    if (!data && json_object_get(v->checked, hex))
        return 0;
    cs_autoclose int fd = openat(v->blobs_fd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cs_error_errno(err, errno, "blob %s/blobs/sha256/%s is missing", v->dir, hex);
    uint8_t digest[CS_SHA256_LEN], want[CS_SHA256_LEN];
    uint64_t actual;
    int rc = cs_sha256_fd(fd, size, digest, &actual);
    if (rc < 0 && rc != -EFBIG)
        return cs_error_errno(err, -rc, "cannot read blob %s", hex);
    if (rc == -EFBIG || actual != size)
        return cs_error_set(err, CS_EVERIFY,
                            "blob %s has %s bytes than the %llu that the metadata lists", hex,
                            rc == -EFBIG ? "more" : "fewer", (unsigned long long)size);
    if (cs_hex_decode(hex, want, sizeof(want)) < 0 || !cs_digest_equal(digest, want))
        return cs_error_set(err, CS_EVERIFY, "blob %s does not have that SHA-256: it was modified",
                            hex);
    if (data) {
        size_t len;
        if ((rc = cs_read_file_at(v->blobs_fd, hex, size, true, data, &len, err)) < 0)
            return rc;
    }
    if (!json_object_get(v->checked, hex)) {
        json_object_set_new(v->checked, hex, json_true());
        v->summary->blobs_checked++;
        v->summary->bytes_checked += size;
    }
    return 0;
}

/* Check one listed version: its index, signature and key blobs, the
 * publisher's signature over the index, and every file the index lists. */
static int check_target(verifier *v, const cs_meta_target *t, cs_error *err)
{
    cs_autofree uint8_t *index_data = NULL, *sig = NULL, *pem = NULL;
    int rc;
    if ((rc = check_blob(v, t->index.sha256, t->index.size, &index_data, err)) < 0 ||
        (rc = check_blob(v, t->signature.sha256, t->signature.size, &sig, err)) < 0 ||
        (t->has_signer_key &&
         (rc = check_blob(v, t->signer_key.sha256, t->signer_key.size, &pem, err)) < 0))
        return rc;

    cs_index index = {0};
    if ((rc = cs_index_parse(index_data, t->index.size, &index, err)) < 0)
        return rc;
    if (strcmp(index.app_id, t->app_id) != 0 || strcmp(index.version, t->version) != 0 ||
        strcmp(index.signer_key_id, t->signer_key_id) != 0)
        rc = cs_error_set(err, CS_EVERIFY,
                          "the package index lists %s %s signed by key %s, the metadata lists "
                          "%s %s signed by key %s",
                          index.app_id, index.version, index.signer_key_id, t->app_id, t->version,
                          t->signer_key_id);

    /* Only the signature is checked here: which publishers to trust is each
     * desktop's decision. */
    cs_trust nobody;
    cs_trust_init(&nobody);
    cs_signer signer;
    if (rc == 0 && index.signer_type == CS_SIGNER_ED25519) {
        cs_autopkey EVP_PKEY *key = NULL;
        if (!pem)
            rc = cs_error_set(err, CS_EVERIFY, "an Ed25519 package needs 'signer_key'");
        else if ((rc = cs_key_parse_public(pem, t->signer_key.size, &key, err)) == 0)
            rc = cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, index_data, t->index.size, sig,
                                   t->signature.size, &nobody, &signer, err);
    } else if (rc == 0) {
        rc = cs_verify_cms(sig, t->signature.size, CS_DOMAIN_PACKAGE_INDEX, index_data,
                           t->index.size, &nobody, &signer, err);
    }
    if (rc == 0 && strcmp(signer.key_id, t->signer_key_id) != 0)
        rc = cs_error_set(err, CS_EVERIFY, "the index was signed by key %s, not %s", signer.key_id,
                          t->signer_key_id);
    for (size_t i = 0; rc == 0 && i < index.nfiles; i++) {
        char hex[CS_SHA256_HEX_LEN + 1];
        cs_hex_encode(index.files[i].sha256, CS_SHA256_LEN, hex);
        if ((rc = check_blob(v, hex, index.files[i].size, NULL, err)) < 0)
            cs_error_prefix(err, "file '%s'", index.files[i].path);
    }
    cs_index_free(&index);
    cs_trust_free(&nobody);
    if (rc < 0)
        return cs_error_prefix(err, "%s %s", t->app_id, t->version);
    return 0;
}

static int check_targets_blobs(verifier *v, const cs_meta *targets, cs_error *err)
{
    const char *app_id;
    json_t *app;
    json_object_foreach(json_object_get(cs_meta_signed(targets), "targets"), app_id, app)
    {
        v->summary->apps++;
        const char *version;
        json_t *entry;
        json_object_foreach(json_object_get(app, "versions"), version, entry)
        {
            cs_meta_target t;
            int rc = cs_meta_find_target(targets, app_id, NULL, version, &t, err);
            if (rc == 0)
                rc = check_target(v, &t, err);
            if (rc < 0)
                return rc;
            v->summary->versions++;
        }
    }
    return 0;
}

/* For a file that expired, replace the client's message, which also
 * suspects the desktop clock, with the role and the command that renews it.
 * Returns rc unchanged otherwise. */
static int explain_expiry(const verifier *v, int rc, const cs_meta *meta, const char *role,
                          cs_error *err)
{
    if (rc != -CS_EEXPIRED)
        return rc;
    char when[21], now[21];
    cs_meta_format_time(cs_meta_expires(meta), when);
    cs_meta_format_time(v->now, now);
    bool timestamp = cs_meta_get_type(meta) == CS_META_TIMESTAMP;
    return cs_error_set(err, CS_EEXPIRED,
                        "%s: the %s role expired at %s (now %s, clients allow %d s of clock "
                        "skew); renew it with 'cashstory repo %s %s%s%s --keys KEYDIR'",
                        cs_meta_name(meta), role, when, now, CS_META_CLOCK_SKEW,
                        timestamp ? "timestamp" : "resign", v->dir, timestamp ? "" : " ",
                        timestamp ? "" : role);
}

/* Walk N.root.json from the trusted root up to the newest. */
static int walk_roots(verifier *v, const char *trusted_root, cs_meta **out, cs_error *err)
{
    cs_meta *root = NULL;
    int rc = trusted_root ? cs_meta_load(trusted_root, CS_META_ROOT, CS_META_ROOT_MAX, &root, err)
                          : load(v, "1.root.json", CS_META_ROOT, CS_META_ROOT_MAX, &root, err);
    if (rc < 0)
        return rc;
    if ((rc = cs_meta_verify_role(root, CS_META_ROOT, root, err)) < 0) {
        cs_meta_free(root);
        return rc;
    }
    for (;;) {
        char name[64];
        snprintf(name, sizeof(name), "%llu.root.json",
                 (unsigned long long)cs_meta_version(root) + 1);
        cs_meta *next = NULL;
        rc = load(v, name, CS_META_ROOT, CS_META_ROOT_MAX, &next, err);
        if (rc == -ENOENT)
            break;
        bool keys_changed;
        if (rc == 0)
            rc = cs_meta_verify_root_update(root, next, &keys_changed, err);
        cs_meta_free(root);
        root = next;
        if (rc < 0) {
            cs_meta_free(root);
            return rc;
        }
    }
    cs_error_clear(err);
    *out = root;
    if ((rc = check_same(v, "root.json", root, CS_META_ROOT, CS_META_ROOT_MAX, err)) < 0)
        return rc;
    return explain_expiry(v, cs_meta_check_expiry(root, v->now, err), root, "root", err);
}

static int check_delegations(verifier *v, const cs_meta *targets, const cs_meta *snapshot,
                             cs_error *err)
{
    const json_t *roles =
        json_object_get(json_object_get(cs_meta_signed(targets), "delegations"), "roles");
    size_t i;
    json_t *role;
    json_array_foreach(roles, i, role)
    {
        const char *name = json_string_value(json_object_get(role, "name"));
        char plain[CS_META_NAME_MAX + 32];
        snprintf(plain, sizeof(plain), "delegations/%s.json", name);
        v->summary->delegations++;
        cs_meta *delegated = NULL;
        int rc = cs_repo_load_delegated(v->dir, snapshot, name, &delegated, err);
        if (rc == 0 && !delegated)
            continue; /* the role has published nothing yet */
        if (rc == 0)
            rc = explain_expiry(
                v, cs_meta_verify_delegated(targets, snapshot, name, delegated, v->now, err),
                delegated, name, err);
        if (rc == 0)
            rc = check_same(v, plain, delegated, CS_META_TARGETS, CS_META_TARGETS_MAX, err);
        if (rc == 0)
            rc = check_targets_blobs(v, delegated, err);
        cs_meta_free(delegated);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cs_repo_verify(const char *dir, const char *trusted_root, time_t now, cs_repo_summary *out,
                   cs_error *err)
{
    memset(out, 0, sizeof(*out));
    cs_cleanup(cs_repo_close) repo r;
    int rc = cs_repo_open(&r, dir, NULL, false, err);
    if (rc < 0)
        return rc;
    cs_autoclose int blobs_fd =
        openat(r.dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (blobs_fd < 0)
        return cs_error_errno(err, errno, "cannot open %s/blobs/sha256", dir);
    cs_autojson json_t *checked = json_object();
    if (!checked)
        return cs_error_set(err, ENOMEM, "out of memory");
    verifier v = {dir, blobs_fd, now, checked, out};

    cs_meta *root = NULL, *snapshot = NULL, *targets = NULL;
    if ((rc = walk_roots(&v, trusted_root, &root, err)) < 0)
        goto out;
    out->root_version = cs_meta_version(root);
    rc = cs_meta_verify_timestamp(root, NULL, r.timestamp, now, err);
    if ((rc = explain_expiry(&v, rc, r.timestamp, "timestamp", err)) < 0)
        goto out;
    out->timestamp_version = cs_meta_version(r.timestamp);
    out->timestamp_expires = cs_meta_expires(r.timestamp);

    cs_meta_file listed;
    char name[96];
    cs_meta_find_file(r.timestamp, "snapshot.json", &listed, NULL);
    snprintf(name, sizeof(name), "%llu.snapshot.json", (unsigned long long)listed.version);
    if ((rc = load(&v, name, CS_META_SNAPSHOT, CS_META_SNAPSHOT_MAX, &snapshot, err)) < 0 ||
        (rc = explain_expiry(&v,
                             cs_meta_verify_snapshot(root, r.timestamp, NULL, snapshot, now, err),
                             snapshot, "snapshot", err)) < 0 ||
        (rc = check_same(&v, "snapshot.json", snapshot, CS_META_SNAPSHOT, CS_META_SNAPSHOT_MAX,
                         err)) < 0)
        goto out;
    out->snapshot_version = cs_meta_version(snapshot);

    cs_meta_find_file(snapshot, "targets.json", &listed, NULL);
    snprintf(name, sizeof(name), "%llu.targets.json", (unsigned long long)listed.version);
    if ((rc = load(&v, name, CS_META_TARGETS, CS_META_TARGETS_MAX, &targets, err)) < 0 ||
        (rc = explain_expiry(&v, cs_meta_verify_targets(root, snapshot, targets, now, err), targets,
                             "targets", err)) < 0 ||
        (rc = check_same(&v, "targets.json", targets, CS_META_TARGETS, CS_META_TARGETS_MAX, err)) <
            0)
        goto out;
    out->targets_version = cs_meta_version(targets);
    if ((rc = check_targets_blobs(&v, targets, err)) < 0 ||
        (rc = check_delegations(&v, targets, snapshot, err)) < 0)
        goto out;

out:
    cs_meta_free(root);
    cs_meta_free(snapshot);
    cs_meta_free(targets);
    return rc;
}
