/* Signature, threshold, version, digest and expiry checks of repository
 * metadata, and signing of new metadata. */
#include "common/cleanup.h"
#include "common/hex.h"
#include "common/json.h"
#include "update/metadata.h"
#include "update/metadata_internal.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

static bool verify_one(EVP_PKEY *key, const cs_meta *meta, const uint8_t *sig)
{
    static const char domain[] = CS_DOMAIN_REPOSITORY_METADATA;
    size_t len = sizeof(domain) + meta->canonical_len;
    cs_autofree uint8_t *msg = malloc(len);
    cs_automdctx EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!msg || !ctx)
        return false;
    memcpy(msg, domain, sizeof(domain));
    memcpy(msg + sizeof(domain), meta->canonical, meta->canonical_len);
    bool ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, CS_ED25519_SIG_LEN, msg, len) == 1;
    ERR_clear_error();
    return ok;
}

/* Count the keys of role (an object with "keyids" and "threshold", ids
 * looked up in keys) that made a valid signature of meta, and fail unless the
 * count reaches the threshold. role_name is used in messages. */
static int check_threshold(json_t *keys, json_t *role, const char *role_name, const cs_meta *meta,
                           cs_error *err)
{
    json_t *keyids = json_object_get(role, "keyids");
    size_t threshold = (size_t)json_integer_value(json_object_get(role, "threshold"));
    size_t valid = 0;
    size_t i;
    json_t *id;
    json_array_foreach(keyids, i, id)
    {
        const char *keyid = json_string_value(id);
        const char *hex =
            json_string_value(json_object_get(json_object_get(keys, keyid), "public"));
        cs_autopkey EVP_PKEY *key = hex ? cs_meta_key_from_hex(hex) : NULL;
        if (!key) {
            ERR_clear_error();
            continue;
        }
        for (size_t s = 0; s < meta->nsignatures; s++) {
            if (strcmp(meta->signatures[s].keyid, keyid) == 0 &&
                verify_one(key, meta, meta->signatures[s].sig)) {
                valid++;
                break;
            }
        }
    }
    if (valid < threshold)
        return cs_error_set(err, CS_EVERIFY,
                            "%s: %zu valid signature%s by keys of the %s role, %zu required; "
                            "the file was not signed by the keys that the trusted metadata lists",
                            meta->name, valid, valid == 1 ? "" : "s", role_name, threshold);
    return 0;
}

int cs_meta_verify_role(const cs_meta *root, cs_meta_type role, const cs_meta *meta, cs_error *err)
{
    if (root->type != CS_META_ROOT)
        return cs_error_set(err, EINVAL, "%s is not root metadata", root->name);
    if ((unsigned)role > CS_META_TIMESTAMP)
        return cs_error_set(err, EINVAL, "unknown role %d", (int)role);
    json_t *keys = json_object_get(root->signed_part, "keys");
    json_t *entry =
        json_object_get(json_object_get(root->signed_part, "roles"), cs_meta_role_names[role]);
    return check_threshold(keys, entry, cs_meta_role_names[role], meta, err);
}

int cs_meta_check_expiry(const cs_meta *meta, time_t now, cs_error *err)
{
    if (meta->expires >= now || now - meta->expires <= CS_META_CLOCK_SKEW)
        return 0;
    char when[21], current[21];
    cs_meta_format_time(meta->expires, when);
    cs_meta_format_time(now, current);
    return cs_error_set(err, CS_EEXPIRED,
                        "%s expired at %s (now %s, allowed clock skew %d s); the repository must "
                        "publish fresh metadata, or the desktop clock is wrong",
                        meta->name, when, current, CS_META_CLOCK_SKEW);
}

/* True when the role named `role` has the same key ids and threshold in both
 * roots. The comparison is order-sensitive, so a reordered list counts as a
 * change, which only makes the client discard metadata it could have kept. */
static bool same_role(const cs_meta *a, const cs_meta *b, const char *role)
{
    json_t *ra = json_object_get(json_object_get(a->signed_part, "roles"), role);
    json_t *rb = json_object_get(json_object_get(b->signed_part, "roles"), role);
    return json_equal(ra, rb);
}

int cs_meta_verify_root_update(const cs_meta *trusted, const cs_meta *next, bool *keys_changed,
                               cs_error *err)
{
    if (trusted->type != CS_META_ROOT || next->type != CS_META_ROOT)
        return cs_error_set(err, EINVAL, "root rotation needs two root files");
    if (next->version != trusted->version + 1)
        return cs_error_set(
            err, CS_EVERIFY, "%s: version %llu does not follow the trusted root version %llu",
            next->name, (unsigned long long)next->version, (unsigned long long)trusted->version);
    int rc = cs_meta_verify_role(trusted, CS_META_ROOT, next, err);
    if (rc < 0)
        return cs_error_prefix(err, "signatures by the trusted root version %llu",
                               (unsigned long long)trusted->version);
    if ((rc = cs_meta_verify_role(next, CS_META_ROOT, next, err)) < 0)
        return cs_error_prefix(err, "signatures by its own root keys");
    *keys_changed = !same_role(trusted, next, "timestamp") || !same_role(trusted, next, "snapshot");
    return 0;
}

static int check_not_older(const cs_meta *meta, uint64_t version, uint64_t trusted,
                           const char *what, cs_error *err)
{
    if (version < trusted)
        return cs_error_set(err, CS_EVERIFY,
                            "%s: %s %llu is lower than the trusted %llu; the server offers older "
                            "metadata (rollback attack, or a stale mirror)",
                            meta->name, what, (unsigned long long)version,
                            (unsigned long long)trusted);
    return 0;
}

int cs_meta_verify_timestamp(const cs_meta *root, const cs_meta *trusted, const cs_meta *timestamp,
                             time_t now, cs_error *err)
{
    if (timestamp->type != CS_META_TIMESTAMP || (trusted && trusted->type != CS_META_TIMESTAMP))
        return cs_error_set(err, EINVAL, "%s is not timestamp metadata", timestamp->name);
    int rc = cs_meta_verify_role(root, CS_META_TIMESTAMP, timestamp, err);
    if (rc < 0)
        return rc;
    if (trusted) {
        cs_meta_file old, new;
        cs_meta_find_file(trusted, "snapshot.json", &old, NULL);
        cs_meta_find_file(timestamp, "snapshot.json", &new, NULL);
        if ((rc = check_not_older(timestamp, timestamp->version, trusted->version, "version",
                                  err)) < 0 ||
            (rc = check_not_older(timestamp, new.version, old.version, "snapshot version", err)) <
                0)
            return rc;
    }
    return cs_meta_check_expiry(timestamp, now, err);
}

/* Check that meta's bytes and version are those that listing (a verified
 * timestamp or snapshot) names for file. */
static int check_listed(const cs_meta *listing, const char *file, const cs_meta *meta,
                        cs_error *err)
{
    cs_meta_file entry;
    int rc = cs_meta_find_file(listing, file, &entry, err);
    if (rc < 0)
        return cs_error_set(err, CS_EVERIFY, "%s does not list '%s'", listing->name, file);
    if (meta->file_hash.size != entry.hash.size ||
        strcmp(meta->file_hash.sha256, entry.hash.sha256) != 0)
        return cs_error_set(err, CS_EVERIFY,
                            "%s: %llu bytes with SHA-256 %s, but %s lists %llu bytes with SHA-256 "
                            "%s (files from different repository states, or a modified file)",
                            meta->name, (unsigned long long)meta->file_hash.size,
                            meta->file_hash.sha256, listing->name,
                            (unsigned long long)entry.hash.size, entry.hash.sha256);
    if (meta->version != entry.version)
        return cs_error_set(err, CS_EVERIFY, "%s: version %llu, but %s lists version %llu",
                            meta->name, (unsigned long long)meta->version, listing->name,
                            (unsigned long long)entry.version);
    return 0;
}

int cs_meta_verify_snapshot(const cs_meta *root, const cs_meta *timestamp, const cs_meta *trusted,
                            const cs_meta *snapshot, time_t now, cs_error *err)
{
    if (snapshot->type != CS_META_SNAPSHOT || timestamp->type != CS_META_TIMESTAMP ||
        (trusted && trusted->type != CS_META_SNAPSHOT))
        return cs_error_set(err, EINVAL, "%s: wrong metadata types for a snapshot check",
                            snapshot->name);
    int rc = check_listed(timestamp, "snapshot.json", snapshot, err);
    if (rc < 0)
        return rc;
    if ((rc = cs_meta_verify_role(root, CS_META_SNAPSHOT, snapshot, err)) < 0)
        return rc;
    if (trusted) {
        if ((rc = check_not_older(snapshot, snapshot->version, trusted->version, "version", err)) <
            0)
            return rc;
        const char *file;
        json_t *old;
        json_object_foreach(json_object_get(trusted->signed_part, "meta"), file, old)
        {
            cs_meta_file entry;
            if (cs_meta_find_file(snapshot, file, &entry, NULL) < 0)
                return cs_error_set(err, CS_EVERIFY,
                                    "%s no longer lists '%s', which the trusted snapshot lists",
                                    snapshot->name, file);
            uint64_t old_version = (uint64_t)json_integer_value(json_object_get(old, "version"));
            char what[160];
            snprintf(what, sizeof(what), "version of '%s'", file);
            if ((rc = check_not_older(snapshot, entry.version, old_version, what, err)) < 0)
                return rc;
        }
    }
    return cs_meta_check_expiry(snapshot, now, err);
}

int cs_meta_verify_targets(const cs_meta *root, const cs_meta *snapshot, const cs_meta *targets,
                           time_t now, cs_error *err)
{
    if (targets->type != CS_META_TARGETS || snapshot->type != CS_META_SNAPSHOT)
        return cs_error_set(err, EINVAL, "%s: wrong metadata types for a targets check",
                            targets->name);
    int rc = check_listed(snapshot, "targets.json", targets, err);
    if (rc < 0)
        return rc;
    if ((rc = cs_meta_verify_role(root, CS_META_TARGETS, targets, err)) < 0)
        return rc;
    return cs_meta_check_expiry(targets, now, err);
}

int cs_meta_verify_delegated(const cs_meta *targets, const cs_meta *snapshot, const char *role,
                             const cs_meta *delegated, time_t now, cs_error *err)
{
    if (targets->type != CS_META_TARGETS || delegated->type != CS_META_TARGETS ||
        snapshot->type != CS_META_SNAPSHOT)
        return cs_error_set(err, EINVAL, "%s: wrong metadata types for a delegation check",
                            delegated->name);
    json_t *delegations = json_object_get(targets->signed_part, "delegations");
    json_t *entry = NULL;
    size_t i;
    json_t *candidate;
    json_array_foreach(json_object_get(delegations, "roles"), i, candidate)
    {
        if (strcmp(json_string_value(json_object_get(candidate, "name")), role) == 0) {
            entry = candidate;
            break;
        }
    }
    if (!entry)
        return cs_error_set(err, CS_EVERIFY, "%s does not delegate to a role named '%s'",
                            targets->name, role);

    char file[CS_META_NAME_MAX + 32];
    if (snprintf(file, sizeof(file), "delegations/%s.json", role) >= (int)sizeof(file))
        return cs_error_set(err, EINVAL, "role name '%s' is too long", role);
    int rc = check_listed(snapshot, file, delegated, err);
    if (rc < 0)
        return rc;
    if ((rc = check_threshold(json_object_get(delegations, "keys"), entry, role, delegated, err)) <
        0)
        return rc;
    if (json_object_get(delegated->signed_part, "delegations"))
        return cs_error_set(err, CS_EVERIFY, "%s: delegated role '%s' may not delegate further",
                            delegated->name, role);

    const char *app_id;
    json_t *app;
    json_object_foreach(json_object_get(delegated->signed_part, "targets"), app_id, app)
    {
        if (!cs_meta_delegation_allows(targets, role, app_id)) {
            const char *owner = cs_meta_delegation_for(targets, app_id);
            return cs_error_set(err, CS_EVERIFY,
                                "%s: role '%s' lists app '%s', which %s; the whole file is "
                                "rejected",
                                delegated->name, role, app_id,
                                owner ? "is delegated to another role"
                                      : "is outside the role's patterns");
        }
    }
    return cs_meta_check_expiry(delegated, now, err);
}

int cs_meta_sign(const json_t *signed_object, EVP_PKEY *const *keys, size_t nkeys, char **out,
                 size_t *out_len, cs_error *err)
{
    static const char domain[] = CS_DOMAIN_REPOSITORY_METADATA;
    size_t len;
    cs_autofree char *canonical = cs_meta_canonical(signed_object, &len);
    if (!canonical)
        return cs_error_set(err, ENOMEM, "cannot serialize the metadata");

    cs_autojson json_t *sigs = json_array();
    cs_autojson json_t *doc = json_object();
    if (!sigs || !doc)
        return cs_error_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < nkeys; i++) {
        uint8_t sig[CS_ED25519_SIG_LEN];
        char keyid[CS_KEY_ID_HEX_LEN + 1], hex[2 * CS_ED25519_SIG_LEN + 1];
        int rc = cs_sign_ed25519(keys[i], domain, canonical, len, sig, err);
        if (rc < 0)
            return rc;
        if (cs_key_id(keys[i], keyid) < 0)
            return cs_error_set(err, EINVAL, "cannot compute the id of a signing key");
        cs_hex_encode(sig, sizeof(sig), hex);
        json_t *entry = json_pack("{s:s, s:s}", "keyid", keyid, "sig", hex);
        if (!entry || json_array_append_new(sigs, entry) < 0)
            return cs_error_set(err, ENOMEM, "out of memory");
    }
    if (json_object_set(doc, "signatures", sigs) < 0 ||
        json_object_set(doc, "signed", (json_t *)signed_object) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    char *text = cs_json_dump_canonical(doc);
    if (!text)
        return cs_error_set(err, ENOMEM, "cannot serialize the metadata");
    *out = text;
    *out_len = strlen(text);
    return 0;
}
