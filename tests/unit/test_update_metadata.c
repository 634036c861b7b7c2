#include "common/cleanup.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "crypto/signature.h"
#include "common/hex.h"
#include "update/metadata.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define NOW ((time_t)1800000000) /* 2027-01-15T08:00:00Z */
#define DAY 86400

enum { ROOT1, ROOT2, TARGETS, SNAPSHOT, TIMESTAMP, PUBLISHER, OTHER, NKEYS };

static EVP_PKEY *keys[NKEYS];
static char ids[NKEYS][CS_KEY_ID_HEX_LEN + 1];

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++) {
        keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!keys[i] || cs_key_id(keys[i], ids[i]) < 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++)
        EVP_PKEY_free(keys[i]);
    return 0;
}

static json_t *key_entry(int k)
{
    char hex[65];
    cs_error err = {0};
    assert_int_equal(cs_meta_key_public_hex(keys[k], hex, &err), 0);
    return json_pack("{s:s, s:s}", "type", "ed25519", "public", hex);
}

static json_t *role(int k, int threshold)
{
    return json_pack("{s:[s], s:i}", "keyids", ids[k], "threshold", threshold);
}

static json_t *header(const char *type, uint64_t version, time_t expires)
{
    char when[21];
    cs_meta_format_time(expires, when);
    return json_pack("{s:s, s:s, s:I, s:s}", "type", type, "format", CS_META_FORMAT, "version",
                     (json_int_t)version, "expires", when);
}

/* Root signed part with root key `root_key` and the standard other roles. */
static json_t *root_signed(uint64_t version, int root_key)
{
    json_t *s = header("root", version, NOW + 365 * DAY);
    json_t *k = json_object();
    int used[] = {root_key, TARGETS, SNAPSHOT, TIMESTAMP};
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(k, ids[used[i]], key_entry(used[i]));
    json_object_set_new(s, "keys", k);
    json_object_set_new(s, "roles",
                        json_pack("{s:o, s:o, s:o, s:o}", "root", role(root_key, 1), "targets",
                                  role(TARGETS, 1), "snapshot", role(SNAPSHOT, 1), "timestamp",
                                  role(TIMESTAMP, 1)));
    return s;
}

static json_t *blob(const char *fill, int size)
{
    char hex[65];
    memset(hex, fill[0], 64);
    hex[64] = '\0';
    return json_pack("{s:s, s:i}", "sha256", hex, "size", size);
}

static json_t *target_entry(void)
{
    return json_pack("{s:o, s:o, s:o, s:s}", "index", blob("a", 500), "signature", blob("b", 64),
                     "signer_key", blob("c", 113), "signer_key_id", ids[PUBLISHER]);
}

/* Targets with com.example.hello 1.0.0 (stable) and 1.1.0 (beta), and a
 * delegation of com.acme.* to role "acme" when delegate is set. */
static json_t *targets_signed(uint64_t version, bool delegate)
{
    json_t *s = header("targets", version, NOW + 90 * DAY);
    json_t *app = json_pack("{s:{s:s, s:s}, s:{s:o, s:o}}", "channels", "stable", "1.0.0", "beta",
                            "1.1.0", "versions", "1.0.0", target_entry(), "1.1.0", target_entry());
    json_object_set_new(s, "targets", json_pack("{s:o}", "com.example.hello", app));
    if (delegate) {
        json_t *k = json_object();
        json_object_set_new(k, ids[PUBLISHER], key_entry(PUBLISHER));
        json_t *r = role(PUBLISHER, 1);
        json_object_set_new(r, "name", json_string("acme"));
        json_object_set_new(r, "patterns", json_pack("[s]", "com.acme.*"));
        json_object_set_new(s, "delegations", json_pack("{s:o, s:[o]}", "keys", k, "roles", r));
    }
    return s;
}

static json_t *delegated_signed(uint64_t version, const char *app_id)
{
    json_t *s = header("targets", version, NOW + 90 * DAY);
    json_t *app = json_pack("{s:{s:s}, s:{s:o}}", "channels", "stable", "2.0.0", "versions",
                            "2.0.0", target_entry());
    json_object_set_new(s, "targets", json_pack("{s:o}", app_id, app));
    return s;
}

static json_t *file_entry(uint64_t version, const cs_meta *file)
{
    return json_pack("{s:I, s:s, s:I}", "version", (json_int_t)version, "sha256",
                     cs_meta_file_hash(file)->sha256, "size",
                     (json_int_t)cs_meta_file_hash(file)->size);
}

static json_t *snapshot_signed(uint64_t version, const cs_meta *targets, const cs_meta *delegated)
{
    json_t *s = header("snapshot", version, NOW + 7 * DAY);
    json_t *meta =
        json_pack("{s:o}", "targets.json", file_entry(cs_meta_version(targets), targets));
    if (delegated)
        json_object_set_new(meta, "delegations/acme.json",
                            file_entry(cs_meta_version(delegated), delegated));
    json_object_set_new(s, "meta", meta);
    return s;
}

static json_t *timestamp_signed(uint64_t version, const cs_meta *snapshot, time_t expires)
{
    json_t *s = header("timestamp", version, expires);
    json_object_set_new(s, "snapshot", file_entry(cs_meta_version(snapshot), snapshot));
    return s;
}

/* Sign s (a reference is taken) with the listed keys, parse it as type and
 * return the result; fails the test when parsing fails. */
static cs_meta *sign_as(json_t *s, cs_meta_type type, const char *name, int nsigners, ...)
{
    EVP_PKEY *signers[8];
    va_list ap;
    va_start(ap, nsigners);
    for (int i = 0; i < nsigners; i++)
        signers[i] = keys[va_arg(ap, int)];
    va_end(ap);
    cs_error err = {0};
    cs_autofree char *text = NULL;
    size_t len;
    assert_int_equal(cs_meta_sign(s, signers, (size_t)nsigners, &text, &len, &err), 0);
    json_decref(s);
    cs_meta *meta = NULL;
    int rc = cs_meta_parse(text, len, type, name, &meta, &err);
    if (rc < 0)
        fail_msg("%s", err.message);
    return meta;
}

/* A consistent repository state. */
typedef struct state {
    cs_meta *root, *targets, *delegated, *snapshot, *timestamp;
} state;

static void make_state(state *st, uint64_t version)
{
    st->root = sign_as(root_signed(1, ROOT1), CS_META_ROOT, "root.json", 1, ROOT1);
    st->targets =
        sign_as(targets_signed(version, true), CS_META_TARGETS, "targets.json", 1, TARGETS);
    st->delegated = sign_as(delegated_signed(version, "com.acme.chart"), CS_META_TARGETS,
                            "delegations/acme.json", 1, PUBLISHER);
    st->snapshot = sign_as(snapshot_signed(version, st->targets, st->delegated), CS_META_SNAPSHOT,
                           "snapshot.json", 1, SNAPSHOT);
    st->timestamp = sign_as(timestamp_signed(version, st->snapshot, NOW + DAY), CS_META_TIMESTAMP,
                            "timestamp.json", 1, TIMESTAMP);
}

static void free_state(state *st)
{
    cs_meta_free(st->root);
    cs_meta_free(st->targets);
    cs_meta_free(st->delegated);
    cs_meta_free(st->snapshot);
    cs_meta_free(st->timestamp);
}

static void good_chain_verifies(void **unused)
{
    (void)unused;
    state st;
    make_state(&st, 3);
    cs_error err = {0};
    assert_int_equal(cs_meta_verify_timestamp(st.root, NULL, st.timestamp, NOW, &err), 0);
    assert_int_equal(cs_meta_verify_snapshot(st.root, st.timestamp, NULL, st.snapshot, NOW, &err),
                     0);
    assert_int_equal(cs_meta_verify_targets(st.root, st.snapshot, st.targets, NOW, &err), 0);
    assert_int_equal(
        cs_meta_verify_delegated(st.targets, st.snapshot, "acme", st.delegated, NOW, &err), 0);

    cs_meta_target t;
    assert_int_equal(cs_meta_find_target(st.targets, "com.example.hello", "stable", NULL, &t, &err),
                     0);
    assert_string_equal(t.version, "1.0.0");
    assert_string_equal(t.role, "targets");
    assert_true(t.has_signer_key);
    assert_int_equal(t.index.size, 500);
    assert_string_equal(t.signer_key_id, ids[PUBLISHER]);
    assert_int_equal(cs_meta_find_target(st.targets, "com.example.hello", "beta", NULL, &t, &err),
                     0);
    assert_string_equal(t.version, "1.1.0");
    assert_int_equal(cs_meta_find_target(st.targets, "com.example.hello", NULL, "1.1.0", &t, &err),
                     0);
    assert_int_equal(cs_meta_find_target(st.delegated, "com.acme.chart", "stable", NULL, &t, &err),
                     0);
    assert_string_equal(t.role, "acme");
    free_state(&st);
}

static void target_role_from_file_name(void **unused)
{
    (void)unused;
    static const struct {
        const char *name, *role;
    } cases[] = {
        {"targets.json", "targets"},
        {"7.targets.json", "targets"},
        {"/var/lib/cashstory/update/repos/corp/targets.json", "targets"},
        {"delegations/acme.json", "acme"},
        {"delegations/3.acme.json", "acme"},
        {"/store/repos/corp/delegations/12.acme-tools.json", "acme-tools"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cs_meta *meta = sign_as(delegated_signed(1, "com.acme.chart"), CS_META_TARGETS,
                                cases[i].name, 1, PUBLISHER);
        cs_meta_target t;
        cs_error err = {0};
        assert_int_equal(cs_meta_find_target(meta, "com.acme.chart", "stable", NULL, &t, &err), 0);
        assert_string_equal(t.role, cases[i].role);
        cs_meta_free(meta);
    }
}

static void lookup_reports_missing(void **unused)
{
    (void)unused;
    state st;
    make_state(&st, 1);
    cs_error err = {0};
    cs_meta_target t;
    assert_int_equal(cs_meta_find_target(st.targets, "com.example.none", "stable", NULL, &t, &err),
                     -ENOENT);
    assert_non_null(strstr(err.message, "com.example.none"));
    assert_int_equal(
        cs_meta_find_target(st.targets, "com.example.hello", "nightly", NULL, &t, &err), -ENOENT);
    assert_non_null(strstr(err.message, "nightly"));
    assert_int_equal(cs_meta_find_target(st.targets, "com.example.hello", NULL, "9.9.9", &t, &err),
                     -ENOENT);
    assert_non_null(strstr(err.message, "9.9.9"));
    free_state(&st);
}

static void wrong_key_rejected(void **unused)
{
    (void)unused;
    state st;
    make_state(&st, 1);
    cs_meta *forged = sign_as(timestamp_signed(2, st.snapshot, NOW + DAY), CS_META_TIMESTAMP,
                              "timestamp.json", 1, SNAPSHOT);
    cs_error err = {0};
    assert_int_equal(cs_meta_verify_timestamp(st.root, NULL, forged, NOW, &err), -CS_EVERIFY);
    assert_non_null(strstr(err.message, "timestamp role"));
    cs_meta_free(forged);
    free_state(&st);
}

static void package_signature_not_metadata(void **unused)
{
    (void)unused;
    state st;
    make_state(&st, 1);
    /* Sign the canonical timestamp bytes with the package index domain. */
    json_t *s = timestamp_signed(2, st.snapshot, NOW + DAY);
    size_t len;
    cs_autofree char *canonical = cs_meta_canonical(s, &len);
    uint8_t sig[CS_ED25519_SIG_LEN];
    char hex[2 * CS_ED25519_SIG_LEN + 1];
    cs_error err = {0};
    assert_int_equal(
        cs_sign_ed25519(keys[TIMESTAMP], CS_DOMAIN_PACKAGE_INDEX, canonical, len, sig, &err), 0);
    cs_hex_encode(sig, sizeof(sig), hex);
    json_t *doc = json_pack("{s:[{s:s, s:s}], s:o}", "signatures", "keyid", ids[TIMESTAMP], "sig",
                            hex, "signed", s);
    cs_autofree char *text = json_dumps(doc, 0);
    json_decref(doc);
    cs_meta *meta = NULL;
    assert_int_equal(
        cs_meta_parse(text, strlen(text), CS_META_TIMESTAMP, "timestamp.json", &meta, &err), 0);
    assert_int_equal(cs_meta_verify_timestamp(st.root, NULL, meta, NOW, &err), -CS_EVERIFY);
    cs_meta_free(meta);
    free_state(&st);
}

static void threshold_counts_distinct_keys(void **unused)
{
    (void)unused;
    json_t *rs = root_signed(1, ROOT1);
    json_t *k = json_object_get(rs, "keys");
    json_object_set_new(k, ids[OTHER], key_entry(OTHER));
    json_t *targets_role =
        json_pack("{s:[s, s], s:i}", "keyids", ids[TARGETS], ids[OTHER], "threshold", 2);
    json_object_set_new(json_object_get(rs, "roles"), "targets", targets_role);
    cs_meta *root = sign_as(rs, CS_META_ROOT, "root.json", 1, ROOT1);

    cs_error err = {0};
    cs_meta *one = sign_as(targets_signed(1, false), CS_META_TARGETS, "targets.json", 1, TARGETS);
    assert_int_equal(cs_meta_verify_role(root, CS_META_TARGETS, one, &err), -CS_EVERIFY);
    assert_non_null(strstr(err.message, "1 valid signature by keys of the targets role, 2"));
    cs_meta *twice =
        sign_as(targets_signed(1, false), CS_META_TARGETS, "targets.json", 2, TARGETS, TARGETS);
    assert_int_equal(cs_meta_verify_role(root, CS_META_TARGETS, twice, &err), -CS_EVERIFY);
    cs_meta *both =
        sign_as(targets_signed(1, false), CS_META_TARGETS, "targets.json", 2, OTHER, TARGETS);
    assert_int_equal(cs_meta_verify_role(root, CS_META_TARGETS, both, &err), 0);
    cs_meta_free(one);
    cs_meta_free(twice);
    cs_meta_free(both);
    cs_meta_free(root);
}

static void expired_metadata_rejected(void **unused)
{
    (void)unused;
    state st;
    make_state(&st, 1);
    cs_error err = {0};
    time_t expires = cs_meta_expires(st.timestamp);
    assert_int_equal(cs_meta_check_expiry(st.timestamp, expires + CS_META_CLOCK_SKEW, &err), 0);
    assert_int_equal(cs_meta_check_expiry(st.timestamp, expires + CS_META_CLOCK_SKEW + 1, &err),
                     -CS_EEXPIRED);
    assert_non_null(strstr(err.message, "timestamp.json expired at"));
    assert_int_equal(cs_meta_verify_timestamp(st.root, NULL, st.timestamp, expires + DAY, &err),
                     -CS_EEXPIRED);
    assert_int_equal(
        cs_meta_verify_targets(st.root, st.snapshot, st.targets, NOW + 365 * DAY, &err),
        -CS_EEXPIRED);
    free_state(&st);
}

static void rolled_back_versions_rejected(void **unused)
{
    (void)unused;
    state old, new;
    make_state(&old, 2);
    make_state(&new, 5);
    cs_error err = {0};

    /* Timestamp, then snapshot, then targets versions going back. */
    assert_int_equal(cs_meta_verify_timestamp(old.root, new.timestamp, old.timestamp, NOW, &err),
                     -CS_EVERIFY);
    assert_non_null(strstr(err.message, "version 2 is lower than the trusted 5"));
    assert_int_equal(cs_meta_verify_timestamp(old.root, old.timestamp, new.timestamp, NOW, &err),
                     0);

    cs_meta *ts = sign_as(timestamp_signed(9, old.snapshot, NOW + DAY), CS_META_TIMESTAMP,
                          "timestamp.json", 1, TIMESTAMP);
    assert_int_equal(cs_meta_verify_timestamp(old.root, new.timestamp, ts, NOW, &err), -CS_EVERIFY);
    assert_non_null(strstr(err.message, "snapshot version 2 is lower than the trusted 5"));

    /* A newer snapshot that lists an older targets file. */
    cs_meta *snap = sign_as(snapshot_signed(6, old.targets, old.delegated), CS_META_SNAPSHOT,
                            "snapshot.json", 1, SNAPSHOT);
    cs_meta *ts2 = sign_as(timestamp_signed(10, snap, NOW + DAY), CS_META_TIMESTAMP,
                           "timestamp.json", 1, TIMESTAMP);
    assert_int_equal(cs_meta_verify_snapshot(old.root, ts2, new.snapshot, snap, NOW, &err),
                     -CS_EVERIFY);
    assert_non_null(strstr(err.message, "2 is lower than the trusted 5"));

    cs_meta_free(ts);
    cs_meta_free(ts2);
    cs_meta_free(snap);
    free_state(&old);
    free_state(&new);
}

static void mix_and_match_rejected(void **unused)
{
    (void)unused;
    state a, b;
    make_state(&a, 1);
    make_state(&b, 2);
    cs_error err = {0};
    assert_int_equal(cs_meta_verify_targets(a.root, a.snapshot, b.targets, NOW, &err), -CS_EVERIFY);
    assert_non_null(strstr(err.message, "different repository states"));
    assert_int_equal(cs_meta_verify_snapshot(a.root, a.timestamp, NULL, b.snapshot, NOW, &err),
                     -CS_EVERIFY);
    assert_int_equal(
        cs_meta_verify_delegated(a.targets, a.snapshot, "acme", b.delegated, NOW, &err),
        -CS_EVERIFY);
    free_state(&a);
    free_state(&b);
}

static void root_rotation_chain(void **unused)
{
    (void)unused;
    cs_meta *v1 = sign_as(root_signed(1, ROOT1), CS_META_ROOT, "1.root.json", 1, ROOT1);
    cs_meta *v2 = sign_as(root_signed(2, ROOT2), CS_META_ROOT, "2.root.json", 2, ROOT1, ROOT2);
    cs_meta *v2_new_only = sign_as(root_signed(2, ROOT2), CS_META_ROOT, "2.root.json", 1, ROOT2);
    cs_meta *v2_old_only = sign_as(root_signed(2, ROOT2), CS_META_ROOT, "2.root.json", 1, ROOT1);
    cs_meta *v3 = sign_as(root_signed(3, ROOT2), CS_META_ROOT, "3.root.json", 1, ROOT2);
    cs_error err = {0};
    bool changed = true;

    assert_int_equal(cs_meta_verify_root_update(v1, v2, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(cs_meta_verify_root_update(v2, v3, &changed, &err), 0);
    assert_int_equal(cs_meta_verify_root_update(v1, v2_new_only, &changed, &err), -CS_EVERIFY);
    assert_non_null(strstr(err.message, "trusted root version 1"));
    assert_int_equal(cs_meta_verify_root_update(v1, v2_old_only, &changed, &err), -CS_EVERIFY);
    assert_non_null(strstr(err.message, "own root keys"));
    assert_int_equal(cs_meta_verify_root_update(v1, v3, &changed, &err), -CS_EVERIFY);
    assert_non_null(strstr(err.message, "does not follow"));
    assert_int_equal(cs_meta_verify_root_update(v2, v1, &changed, &err), -CS_EVERIFY);

    /* A new timestamp key is reported, so clients drop their trusted timestamp. */
    json_t *rs = root_signed(3, ROOT2);
    json_object_set_new(json_object_get(rs, "keys"), ids[OTHER], key_entry(OTHER));
    json_object_set_new(json_object_get(rs, "roles"), "timestamp", role(OTHER, 1));
    cs_meta *v3_new_ts = sign_as(rs, CS_META_ROOT, "3.root.json", 1, ROOT2);
    assert_int_equal(cs_meta_verify_root_update(v2, v3_new_ts, &changed, &err), 0);
    assert_true(changed);

    cs_meta_free(v1);
    cs_meta_free(v2);
    cs_meta_free(v2_new_only);
    cs_meta_free(v2_old_only);
    cs_meta_free(v3);
    cs_meta_free(v3_new_ts);
}

static void delegation_outside_patterns_rejected(void **unused)
{
    (void)unused;
    state st;
    make_state(&st, 1);
    cs_error err = {0};
    cs_meta *rogue = sign_as(delegated_signed(1, "com.example.hello"), CS_META_TARGETS,
                             "delegations/acme.json", 1, PUBLISHER);
    cs_meta *snap = sign_as(snapshot_signed(2, st.targets, rogue), CS_META_SNAPSHOT,
                            "snapshot.json", 1, SNAPSHOT);
    assert_int_equal(cs_meta_verify_delegated(st.targets, snap, "acme", rogue, NOW, &err),
                     -CS_EVERIFY);
    assert_non_null(strstr(err.message, "com.example.hello"));
    assert_non_null(strstr(err.message, "outside the role's patterns"));

    /* The right patterns but signed by another key. */
    cs_meta *forged = sign_as(delegated_signed(1, "com.acme.chart"), CS_META_TARGETS,
                              "delegations/acme.json", 1, OTHER);
    cs_meta *snap2 = sign_as(snapshot_signed(2, st.targets, forged), CS_META_SNAPSHOT,
                             "snapshot.json", 1, SNAPSHOT);
    assert_int_equal(cs_meta_verify_delegated(st.targets, snap2, "acme", forged, NOW, &err),
                     -CS_EVERIFY);
    assert_int_equal(cs_meta_verify_delegated(st.targets, snap2, "nobody", forged, NOW, &err),
                     -CS_EVERIFY);

    assert_string_equal(cs_meta_delegation_for(st.targets, "com.acme.chart"), "acme");
    assert_null(cs_meta_delegation_for(st.targets, "com.example.hello"));
    assert_true(cs_meta_delegation_allows(st.targets, "acme", "com.acme.chart"));
    assert_false(cs_meta_delegation_allows(st.targets, "acme", "com.acmeco.chart"));

    cs_meta_free(rogue);
    cs_meta_free(snap);
    cs_meta_free(forged);
    cs_meta_free(snap2);
    free_state(&st);
}

static void top_level_cannot_list_delegated(void **unused)
{
    (void)unused;
    json_t *s = targets_signed(1, true);
    json_t *app = json_pack("{s:{}, s:{s:o}}", "channels", "versions", "1.0.0", target_entry());
    json_object_set_new(json_object_get(s, "targets"), "com.acme.chart", app);
    cs_error err = {0};
    cs_autofree char *text = NULL;
    size_t len;
    assert_int_equal(cs_meta_sign(s, &keys[TARGETS], 1, &text, &len, &err), 0);
    json_decref(s);
    cs_meta *meta = NULL;
    assert_int_equal(cs_meta_parse(text, len, CS_META_TARGETS, "targets.json", &meta, &err),
                     -EINVAL);
    assert_non_null(strstr(err.message, "delegated to role 'acme'"));
}

static void pattern_matching(void **unused)
{
    (void)unused;
    assert_true(cs_meta_pattern_match("com.acme.*", "com.acme.chart"));
    assert_true(cs_meta_pattern_match("com.acme.*", "com.acme.tools.grid"));
    assert_false(cs_meta_pattern_match("com.acme.*", "com.acme"));
    assert_false(cs_meta_pattern_match("com.acme.*", "com.acmeco.chart"));
    assert_true(cs_meta_pattern_match("org.acme.tools", "org.acme.tools"));
    assert_false(cs_meta_pattern_match("org.acme.tools", "org.acme.tools.x"));
}

/* Parse s as a document (signatures are syntactically valid but not checked)
 * and return the error code, with the message in err. */
static int parse_text(const char *text, cs_meta_type type, cs_error *err)
{
    cs_meta *meta = NULL;
    int rc = cs_meta_parse(text, strlen(text), type, "test.json", &meta, err);
    cs_meta_free(meta);
    return rc;
}

static int parse_signed(json_t *s, cs_meta_type type, cs_error *err)
{
    cs_autofree char *text = NULL;
    size_t len;
    assert_int_equal(cs_meta_sign(s, &keys[TIMESTAMP], 1, &text, &len, err), 0);
    json_decref(s);
    return parse_text(text, type, err);
}

static void unknown_fields_named(void **unused)
{
    (void)unused;
    cs_error err = {0};
    json_t *s = header("timestamp", 1, NOW);
    json_object_set_new(s, "snapshot", blob("a", 1));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "missing required field 'version'"));

    s = header("timestamp", 1, NOW);
    json_object_set_new(
        s, "snapshot",
        json_pack("{s:i, s:s, s:i}", "version", 1, "sha256", ids[ROOT1], "size", 10));
    json_object_set_new(s, "expirs", json_string("x"));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "unknown field 'expirs' (did you mean 'expires'?)"));

    assert_int_equal(
        parse_text("{\"signed\": {}, \"signatures\": [], \"x\": 1}", CS_META_TIMESTAMP, &err),
        -EINVAL);
    assert_non_null(strstr(err.message, "unknown field 'x'"));

    s = targets_signed(1, false);
    json_object_set_new(
        json_object_get(
            json_object_get(json_object_get(json_object_get(s, "targets"), "com.example.hello"),
                            "versions"),
            "1.0.0"),
        "url", json_string("https://example.com/x"));
    assert_int_equal(parse_signed(s, CS_META_TARGETS, &err), -EINVAL);
    assert_non_null(strstr(err.message, "targets['com.example.hello'].versions['1.0.0']"));
    assert_non_null(strstr(err.message, "unknown field 'url'"));

    s = root_signed(1, ROOT1);
    json_object_set_new(json_object_get(s, "roles"), "publisher", role(ROOT1, 1));
    assert_int_equal(parse_signed(s, CS_META_ROOT, &err), -EINVAL);
    assert_non_null(strstr(err.message, "roles: unknown field 'publisher'"));

    /* A misspelled required field is named as unknown, not as missing. */
    s = root_signed(1, ROOT1);
    json_object_set(s, "fromat", json_object_get(s, "format"));
    json_object_del(s, "format");
    assert_int_equal(parse_signed(s, CS_META_ROOT, &err), -EINVAL);
    assert_non_null(
        strstr(err.message, "test.json: signed: unknown field 'fromat' (did you mean 'format'?)"));

    /* A file of another type. */
    assert_int_equal(parse_signed(root_signed(1, ROOT1), CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "field 'type' is 'root', expected 'timestamp'"));
}

static void name_rules(void **unused)
{
    (void)unused;
    assert_true(cs_meta_channel_name_valid("stable"));
    assert_true(cs_meta_channel_name_valid("beta-2.x_y"));
    assert_false(cs_meta_channel_name_valid("Stable"));
    assert_false(cs_meta_channel_name_valid("-beta"));
    assert_false(cs_meta_channel_name_valid(""));
    assert_false(cs_meta_channel_name_valid(
        "a0123456789012345678901234567890123456789012345678901234567890123"));

    assert_true(cs_meta_role_name_valid("acme-2"));
    assert_false(cs_meta_role_name_valid("targets"));
    assert_false(cs_meta_role_name_valid("../acme"));
    assert_false(cs_meta_role_name_valid("acme.tools"));
    assert_false(cs_meta_role_name_valid(""));

    assert_true(cs_meta_pattern_valid("com.acme.chart"));
    assert_true(cs_meta_pattern_valid("com.acme.*"));
    assert_true(cs_meta_pattern_valid("com.*"));
    assert_false(cs_meta_pattern_valid("com.*x"));
    assert_false(cs_meta_pattern_valid("*"));
    assert_false(cs_meta_pattern_valid("Com.acme"));
}

static void oversized_fields_rejected(void **unused)
{
    (void)unused;
    cs_error err = {0};
    char long_string[400];
    memset(long_string, 'a', sizeof(long_string) - 1);
    long_string[sizeof(long_string) - 1] = '\0';

    json_t *s = header("timestamp", 1, NOW);
    json_object_set_new(s, "format", json_string(long_string));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "longer than 256 bytes"));

    s = header("timestamp", 1, NOW);
    json_object_set_new(s, "version", json_integer((json_int_t)CS_META_VERSION_MAX + 1));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "outside 0 to 2^53-1"));

    s = header("timestamp", 1, NOW);
    json_object_set_new(s, "version", json_real(1.0));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "floating-point"));

    s = header("timestamp", 1, NOW);
    json_object_set_new(s, "format", json_string("caf\xc3\xa9"));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "outside printable ASCII"));

    /* A snapshot size beyond the snapshot limit. */
    s = header("timestamp", 1, NOW);
    json_object_set_new(s, "snapshot",
                        json_pack("{s:i, s:s, s:I}", "version", 1, "sha256", ids[ROOT1], "size",
                                  (json_int_t)CS_META_SNAPSHOT_MAX + 1));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "field 'size'"));

    /* More key ids than a role may have. */
    s = root_signed(1, ROOT1);
    json_t *many = json_array();
    for (int i = 0; i < CS_META_MAX_ROLE_KEYS + 1; i++)
        json_array_append_new(many, json_string(ids[TARGETS]));
    json_object_set_new(json_object_get(json_object_get(s, "roles"), "targets"), "keyids", many);
    assert_int_equal(parse_signed(s, CS_META_ROOT, &err), -EINVAL);
    assert_non_null(strstr(err.message, "65 keys, expected 1 to 64"));

    /* A whole file beyond the limit of its type. */
    size_t big = CS_META_TIMESTAMP_MAX + 1;
    cs_autofree char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, ' ', big);
    cs_meta *meta = NULL;
    assert_int_equal(cs_meta_parse(huge, big, CS_META_TIMESTAMP, "timestamp.json", &meta, &err),
                     -EFBIG);

    /* A threshold above the number of keys, and an impossible date. */
    s = root_signed(1, ROOT1);
    json_object_set_new(json_object_get(json_object_get(s, "roles"), "snapshot"), "threshold",
                        json_integer(2));
    assert_int_equal(parse_signed(s, CS_META_ROOT, &err), -EINVAL);
    assert_non_null(strstr(err.message, "roles.snapshot: field 'threshold' is 2, expected 1 to 1"));
    s = header("timestamp", 1, NOW);
    json_object_set_new(s, "expires", json_string("2027-02-30T00:00:00Z"));
    assert_int_equal(parse_signed(s, CS_META_TIMESTAMP, &err), -EINVAL);
    assert_non_null(strstr(err.message, "field 'expires'"));
}

static void canonical_form_fixed(void **unused)
{
    (void)unused;
    json_t *s =
        json_pack("{s:s, s:i, s:{s:s, s:s}}", "z", "a\"b\\c", "a", 7, "m", "y", "1", "b", "2");
    size_t len;
    cs_autofree char *text = cs_meta_canonical(s, &len);
    json_decref(s);
    assert_string_equal(text, "{\"a\":7,\"m\":{\"b\":\"2\",\"y\":\"1\"},\"z\":\"a\\\"b\\\\c\"}");
    assert_int_equal(len, strlen(text));
}

static void keyid_must_match_key(void **unused)
{
    (void)unused;
    json_t *s = root_signed(1, ROOT1);
    json_t *k = json_object_get(s, "keys");
    /* List the targets key under the snapshot key's id. */
    json_object_set_new(k, ids[SNAPSHOT], key_entry(TARGETS));
    cs_error err = {0};
    assert_int_equal(parse_signed(s, CS_META_ROOT, &err), -EINVAL);
    assert_non_null(strstr(err.message, "does not match the key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_chain_verifies),
        cmocka_unit_test(target_role_from_file_name),
        cmocka_unit_test(lookup_reports_missing),
        cmocka_unit_test(wrong_key_rejected),
        cmocka_unit_test(package_signature_not_metadata),
        cmocka_unit_test(threshold_counts_distinct_keys),
        cmocka_unit_test(expired_metadata_rejected),
        cmocka_unit_test(rolled_back_versions_rejected),
        cmocka_unit_test(mix_and_match_rejected),
        cmocka_unit_test(root_rotation_chain),
        cmocka_unit_test(delegation_outside_patterns_rejected),
        cmocka_unit_test(top_level_cannot_list_delegated),
        cmocka_unit_test(pattern_matching),
        cmocka_unit_test(unknown_fields_named),
        cmocka_unit_test(name_rules),
        cmocka_unit_test(oversized_fields_rejected),
        cmocka_unit_test(canonical_form_fixed),
        cmocka_unit_test(keyid_must_match_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
