#include "common/cleanup.h"
#include "common/hex.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "crypto/signature.h"
#include "crypto/trust.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(key);
    return key;
}

static void ed25519_round_trip(void **state)
{
    (void)state;
    cs_autopkey EVP_PKEY *key = new_key();
    uint8_t sig[CS_ED25519_SIG_LEN];
    cs_error err = {0};
    const char msg[] = "index bytes";
    assert_int_equal(cs_sign_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig, &err), 0);

    cs_trust trust;
    cs_trust_init(&trust);
    cs_signer signer;
    assert_int_equal(cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig,
                                       sizeof(sig), &trust, &signer, &err),
                     0);
    assert_false(signer.trusted);
    assert_non_null(strstr(signer.trust_note, signer.key_id));
}

static void domain_separation_enforced(void **state)
{
    (void)state;
    cs_autopkey EVP_PKEY *key = new_key();
    uint8_t sig[CS_ED25519_SIG_LEN];
    cs_error err = {0};
    const char msg[] = "metadata";
    assert_int_equal(
        cs_sign_ed25519(key, "CashStory repository metadata v1", msg, sizeof(msg), sig, &err), 0);
    cs_trust trust;
    cs_trust_init(&trust);
    cs_signer signer;
    assert_int_equal(cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig,
                                       sizeof(sig), &trust, &signer, &err),
                     -CS_EVERIFY);
}

static void tampered_data_rejected(void **state)
{
    (void)state;
    cs_autopkey EVP_PKEY *key = new_key();
    cs_autopkey EVP_PKEY *other = new_key();
    uint8_t sig[CS_ED25519_SIG_LEN];
    cs_error err = {0};
    char msg[] = "0123456789";
    assert_int_equal(cs_sign_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig, &err), 0);
    cs_trust trust;
    cs_trust_init(&trust);
    cs_signer signer;

    msg[3] ^= 1;
    assert_int_equal(cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig,
                                       sizeof(sig), &trust, &signer, &err),
                     -CS_EVERIFY);
    msg[3] ^= 1;
    sig[10] ^= 0x80;
    assert_int_equal(cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig,
                                       sizeof(sig), &trust, &signer, &err),
                     -CS_EVERIFY);
    sig[10] ^= 0x80;
    assert_int_equal(cs_verify_ed25519(other, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig,
                                       sizeof(sig), &trust, &signer, &err),
                     -CS_EVERIFY);
    assert_int_equal(cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, msg, sizeof(msg), sig, 63,
                                       &trust, &signer, &err),
                     -CS_EVERIFY);
}

static void generated_key_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/cs-test-keys.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char base[64], key_path[80], pub_path[80];
    snprintf(base, sizeof(base), "%s/pub", dir);
    snprintf(key_path, sizeof(key_path), "%s.key", base);
    snprintf(pub_path, sizeof(pub_path), "%s.pub", base);

    char id[CS_KEY_ID_HEX_LEN + 1];
    cs_error err = {0};
    assert_int_equal(cs_key_generate(base, id, &err), 0);
    struct stat sb;
    assert_int_equal(stat(key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* The private and public files give the same key id. */
    cs_autopkey EVP_PKEY *priv = NULL;
    cs_autopkey EVP_PKEY *pub = NULL;
    assert_int_equal(cs_key_load_private(key_path, &priv, &err), 0);
    assert_int_equal(cs_key_load_public(pub_path, &pub, &err), 0);
    char id_priv[CS_KEY_ID_HEX_LEN + 1], id_pub[CS_KEY_ID_HEX_LEN + 1];
    cs_key_id(priv, id_priv);
    cs_key_id(pub, id_pub);
    assert_string_equal(id, id_priv);
    assert_string_equal(id, id_pub);

    /* Never overwrite. */
    assert_int_equal(cs_key_generate(base, id, &err), -EEXIST);
    assert_non_null(strstr(err.message, "already exists"));

    /* A trusted key file is found by its id. */
    cs_trust trust;
    cs_trust_init(&trust);
    assert_int_equal(cs_trust_add_key_file(&trust, pub_path, &err), 0);
    assert_non_null(cs_trust_find_key(&trust, id));
    char other[CS_KEY_ID_HEX_LEN + 1];
    memcpy(other, id, sizeof(other));
    other[0] = other[0] == 'a' ? 'b' : 'a';
    assert_null(cs_trust_find_key(&trust, other));
    assert_null(cs_trust_find_key(&trust, "short"));
    cs_trust_free(&trust);

    unlink(key_path);
    unlink(pub_path);
    rmdir(dir);
}

static void trust_file_errors(void **state)
{
    (void)state;
    char path[] = "/tmp/cs-test-trust.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"{\"publisher\": []}", "unknown field 'publisher' (did you mean 'publishers'?)"},
        {"{\"publishers\": [{\"key_id\": \"XYZ\"}]}", "not 64 lowercase hex digits"},
        {"{\"publishers\": [{\"name\": \"x\"}]}", "missing required field 'key_id'"},
        {"{\"ca_certificates\": [\"missing.pem\"]}", "missing.pem"},
        {"{\"publishers\": {}}", "must be an array"},
        {"not json", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(ftruncate(fd, 0), 0);
        assert_int_equal(pwrite(fd, cases[i].text, strlen(cases[i].text), 0),
                         (ssize_t)strlen(cases[i].text));
        cs_trust trust;
        cs_trust_init(&trust);
        cs_error err = {0};
        assert_true(cs_trust_load_file(&trust, path, false, &err) < 0);
        if (!strstr(err.message, cases[i].error))
            fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].error, err.message);
        cs_trust_free(&trust);
    }
    close(fd);
    unlink(path);

    cs_trust trust;
    cs_trust_init(&trust);
    cs_error err = {0};
    assert_int_equal(cs_trust_load_file(&trust, "/nonexistent/trust.json", true, &err), 0);
    assert_true(cs_trust_load_file(&trust, "/nonexistent/trust.json", false, &err) < 0);
}

static void digests_and_hex(void **state)
{
    (void)state;
    uint8_t d[CS_SHA256_LEN];
    cs_sha256("abc", 3, d);
    char hex[CS_SHA256_HEX_LEN + 1];
    cs_hex_encode(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    uint8_t back[CS_SHA256_LEN];
    assert_int_equal(cs_hex_decode(hex, back, sizeof(back)), 0);
    assert_true(cs_digest_equal(d, back));
    back[31] ^= 1;
    assert_false(cs_digest_equal(d, back));
    assert_int_equal(cs_hex_decode("BA78", back, 2), -EINVAL);
    assert_int_equal(cs_hex_decode("ba7", back, 2), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ed25519_round_trip),     cmocka_unit_test(domain_separation_enforced),
        cmocka_unit_test(tampered_data_rejected), cmocka_unit_test(generated_key_files),
        cmocka_unit_test(trust_file_errors),      cmocka_unit_test(digests_and_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
