#include "crypto/trust.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

void cs_trust_init(cs_trust *trust)
{
    memset(trust, 0, sizeof(*trust));
}

void cs_trust_free(cs_trust *trust)
{
    for (size_t i = 0; i < trust->nkeys; i++) {
        free(trust->keys[i].name);
        free(trust->keys[i].source);
    }
    free(trust->keys);
    sk_X509_pop_free(trust->cas, X509_free);
    cs_trust_init(trust);
}

static int add_key(cs_trust *trust, const char *key_id, const char *name, const char *source,
                   cs_error *err)
{
    if (trust->nkeys >= CS_TRUST_MAX_KEYS)
        return cs_error_set(err, E2BIG, "%s: more than %d trusted keys", source, CS_TRUST_MAX_KEYS);
    cs_trust_key *keys = realloc(trust->keys, (trust->nkeys + 1) * sizeof(*keys));
    if (!keys)
        return cs_error_set(err, ENOMEM, "out of memory");
    trust->keys = keys;
    cs_trust_key *k = &keys[trust->nkeys];
    memcpy(k->key_id, key_id, CS_KEY_ID_HEX_LEN + 1);
    k->name = strdup(name ? name : "");
    k->source = strdup(source);
    if (!k->name || !k->source) {
        free(k->name);
        free(k->source);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    trust->nkeys++;
    return 0;
}

static int add_ca_file(cs_trust *trust, const char *path, cs_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file(path, CS_KEY_FILE_MAX, &data, &len, err);
    if (rc < 0)
        return rc;
    cs_autobio BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!trust->cas)
        trust->cas = sk_X509_new_null();
    int count = 0;
    X509 *cert;
    while (bio && trust->cas && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_num(trust->cas) >= CS_TRUST_MAX_CAS || !sk_X509_push(trust->cas, cert)) {
            X509_free(cert);
            free(data);
            return cs_error_set(err, E2BIG, "%s: too many CA certificates (limit %d)", path,
                                CS_TRUST_MAX_CAS);
        }
        count++;
    }
    free(data);
    ERR_clear_error();
    if (count == 0)
        return cs_error_set(err, EINVAL, "%s: no PEM certificate found", path);
    return 0;
}

int cs_trust_load_file(cs_trust *trust, const char *path, bool missing_ok, cs_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (missing_ok && access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    int rc = cs_read_file(path, CS_TRUST_FILE_MAX, &data, &len, err);
    if (rc < 0)
        return cs_error_prefix(err, "trust configuration");

    cs_autojson json_t *root = NULL;
    rc = cs_json_parse(data, len, path, &root, err);
    free(data);
    if (rc < 0)
        return rc;
    if (!json_is_object(root))
        return cs_error_set(err, EINVAL, "%s: the top level must be an object", path);
    static const char *const top_keys[] = {"publishers", "ca_certificates", NULL};
    rc = cs_json_check_keys(root, top_keys, path, err);
    if (rc < 0)
        return rc;

    json_t *publishers, *cas;
    if ((rc = cs_json_get_array(root, "publishers", true, path, &publishers, err)) < 0 ||
        (rc = cs_json_get_array(root, "ca_certificates", true, path, &cas, err)) < 0)
        return rc;
    cs_autofree char *base = cs_dirname(path);
    return cs_trust_add_json(trust, publishers, cas, path, base ? base : ".", err);
}

int cs_trust_add_json(cs_trust *trust, json_t *publishers, json_t *cas, const char *path,
                      const char *base, cs_error *err)
{
    int rc;
    size_t i;
    json_t *entry;
    json_array_foreach(publishers, i, entry)
    {
        char where[512];
        snprintf(where, sizeof(where), "%s: publishers[%zu]", path, i);
        if (!json_is_object(entry))
            return cs_error_set(err, EINVAL, "%s: must be an object", where);
        static const char *const keys[] = {"name", "key_id", NULL};
        rc = cs_json_check_keys(entry, keys, where, err);
        if (rc < 0)
            return rc;
        const char *key_id, *name;
        if ((rc = cs_json_get_string(entry, "key_id", false, where, &key_id, err)) < 0 ||
            (rc = cs_json_get_string(entry, "name", true, where, &name, err)) < 0)
            return rc;
        uint8_t raw[CS_KEY_ID_HEX_LEN / 2];
        if (cs_hex_decode(key_id, raw, sizeof(raw)) < 0)
            return cs_error_set(err, EINVAL,
                                "%s: field 'key_id': '%s' is not 64 lowercase hex digits "
                                "(print a key's id with 'cashstory key id FILE')",
                                where, key_id);
        rc = add_key(trust, key_id, name, path, err);
        if (rc < 0)
            return rc;
    }

    json_array_foreach(cas, i, entry)
    {
        if (!json_is_string(entry))
            return cs_error_set(err, EINVAL, "%s: ca_certificates[%zu] must be a string path", path,
                                i);
        const char *ca = json_string_value(entry);
        char full[4096];
        if (ca[0] == '/')
            snprintf(full, sizeof(full), "%s", ca);
        else
            snprintf(full, sizeof(full), "%s/%s", base, ca);
        rc = add_ca_file(trust, full, err);
        if (rc < 0)
            return cs_error_prefix(err, "%s: ca_certificates[%zu]", path, i);
    }
    return 0;
}

int cs_trust_add_key_file(cs_trust *trust, const char *path, cs_error *err)
{
    cs_autopkey EVP_PKEY *key = NULL;
    int rc = cs_key_load_public(path, &key, err);
    if (rc < 0)
        return cs_error_prefix(err, "trusted key %s", path);
    char key_id[CS_KEY_ID_HEX_LEN + 1];
    if (cs_key_id(key, key_id) < 0)
        return cs_error_set(err, EINVAL, "%s: cannot compute the key id", path);
    return add_key(trust, key_id, "", path, err);
}

const cs_trust_key *cs_trust_find_key(const cs_trust *trust, const char *key_id)
{
    const cs_trust_key *found = NULL;
    if (strlen(key_id) != CS_KEY_ID_HEX_LEN)
        return NULL;
    for (size_t i = 0; i < trust->nkeys; i++) {
        if (CRYPTO_memcmp(trust->keys[i].key_id, key_id, CS_KEY_ID_HEX_LEN) == 0 && !found)
            found = &trust->keys[i];
    }
    return found;
}
