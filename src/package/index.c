#include "package/index.h"

#include "common/cleanup.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/path.h"
#include "package/manifest.h"
#include "package/semver.h"

#include <stdio.h>
#include <string.h>

#define WHERE "package index"

static int parse_digest(json_t *obj, const char *key, const char *where, uint8_t out[32],
                        cs_error *err)
{
    const char *hex;
    int rc = cs_json_get_string(obj, key, false, where, &hex, err);
    if (rc < 0)
        return rc;
    if (cs_hex_decode(hex, out, CS_SHA256_LEN) < 0)
        return cs_error_set(err, EINVAL, "%s: field '%s' is not 64 lowercase hex digits", where,
                            key);
    return 0;
}

static bool valid_timestamp(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SSZ */
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    return true;
}

static int parse_signer(json_t *root, cs_index *out, cs_error *err)
{
    const char *where = WHERE ": field 'signer'";
    json_t *signer;
    int rc = cs_json_get_object(root, "signer", false, WHERE, &signer, err);
    if (rc < 0)
        return rc;
    const char *type, *key_id;
    if ((rc = cs_json_get_string(signer, "type", false, where, &type, err)) < 0 ||
        (rc = cs_json_get_string(signer, "key_id", false, where, &key_id, err)) < 0)
        return rc;
    uint8_t raw[CS_SHA256_LEN];
    if (cs_hex_decode(key_id, raw, sizeof(raw)) < 0)
        return cs_error_set(err, EINVAL, "%s: 'key_id' is not 64 lowercase hex digits", where);
    memcpy(out->signer_key_id, key_id, CS_KEY_ID_HEX_LEN + 1);

    if (strcmp(type, "ed25519") == 0) {
        static const char *const keys[] = {"type", "key_id", NULL};
        if ((rc = cs_json_check_keys(signer, keys, where, err)) < 0)
            return rc;
        out->signer_type = CS_SIGNER_ED25519;
        return 0;
    }
    if (strcmp(type, "x509") == 0) {
        static const char *const keys[] = {"type", "key_id", "subject", "certificate_sha256", NULL};
        if ((rc = cs_json_check_keys(signer, keys, where, err)) < 0)
            return rc;
        const char *subject, *cert;
        if ((rc = cs_json_get_string(signer, "subject", false, where, &subject, err)) < 0 ||
            (rc = cs_json_get_string(signer, "certificate_sha256", false, where, &cert, err)) < 0)
            return rc;
        if (cs_hex_decode(cert, raw, sizeof(raw)) < 0)
            return cs_error_set(err, EINVAL,
                                "%s: 'certificate_sha256' is not 64 lowercase hex digits", where);
        if (strlen(subject) >= 512)
            return cs_error_set(err, EINVAL, "%s: 'subject' is longer than 511 bytes", where);
        out->signer_type = CS_SIGNER_X509;
        out->signer_subject = strdup(subject);
        if (!out->signer_subject)
            return cs_error_set(err, ENOMEM, "out of memory");
        memcpy(out->signer_cert_sha256, cert, 65);
        return 0;
    }
    return cs_error_set(err, EINVAL, "%s: 'type' is '%s', expected 'ed25519' or 'x509'", where,
                        type);
}

static int parse_file(json_t *entry, size_t i, cs_index_file *file, cs_error *err)
{
    char where[64];
    snprintf(where, sizeof(where), WHERE ": files[%zu]", i);
    if (!json_is_object(entry))
        return cs_error_set(err, EINVAL, "%s must be an object", where);
    static const char *const keys[] = {"path", "size", "sha256", "mode", NULL};
    int rc = cs_json_check_keys(entry, keys, where, err);
    if (rc < 0)
        return rc;
    const char *path, *mode;
    if ((rc = cs_json_get_string(entry, "path", false, where, &path, err)) < 0 ||
        (rc = cs_json_get_string(entry, "mode", false, where, &mode, err)) < 0)
        return rc;
    cs_error inner = {0};
    if (cs_path_check(path, &inner) < 0)
        return cs_error_set(err, EINVAL, "%s: invalid path: %s", where, inner.message);
    if (cs_path_is_reserved(path))
        return cs_error_set(err, EINVAL, "%s: path '%s' is inside the reserved folder .cashstory",
                            where, path);
    json_t *size = json_object_get(entry, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return cs_error_set(err, EINVAL, "%s ('%s'): 'size' must be a non-negative integer", where,
                            path);
    if ((uint64_t)json_integer_value(size) > CS_FILE_MAX_BYTES)
        return cs_error_set(err, EFBIG, "%s ('%s'): size %lld exceeds the limit of %llu bytes",
                            where, path, (long long)json_integer_value(size),
                            (unsigned long long)CS_FILE_MAX_BYTES);
    if ((rc = parse_digest(entry, "sha256", where, file->sha256, err)) < 0)
        return rc;
    if (strcmp(mode, "0644") == 0)
        file->mode = 0644;
    else if (strcmp(mode, "0755") == 0)
        file->mode = 0755;
    else
        return cs_error_set(err, EINVAL, "%s ('%s'): mode '%s' must be '0644' or '0755'", where,
                            path, mode);
    file->size = (uint64_t)json_integer_value(size);
    file->path = strdup(path);
    if (!file->path)
        return cs_error_set(err, ENOMEM, "out of memory");
    return 0;
}

static int check_no_file_is_folder(const cs_index *index, cs_error *err)
{
    char prefix[CS_PATH_MAX + 1];
    for (size_t i = 0; i < index->nfiles; i++) {
        const char *path = index->files[i].path;
        for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
            size_t n = (size_t)(s - path);
            memcpy(prefix, path, n);
            prefix[n] = '\0';
            if (cs_index_find(index, prefix))
                return cs_error_set(err, EINVAL, WHERE ": '%s' is both a file and a folder of '%s'",
                                    prefix, path);
        }
    }
    return 0;
}

int cs_index_parse(const void *data, size_t len, cs_index *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len > CS_INDEX_MAX_BYTES)
        return cs_error_set(err, EFBIG, WHERE ": larger than %d bytes", CS_INDEX_MAX_BYTES);
    cs_autojson json_t *root = NULL;
    int rc = cs_json_parse(data, len, WHERE, &root, err);
    if (rc < 0)
        return rc;
    if (!json_is_object(root))
        return cs_error_set(err, EINVAL, WHERE ": the top level must be an object");
    static const char *const keys[] = {"format", "app", "manifest_sha256", "signer", "created",
                                       "files",  NULL};
    if ((rc = cs_json_check_keys(root, keys, WHERE, err)) < 0)
        return rc;

    const char *format, *created, *id, *version;
    json_t *app, *files;
    if ((rc = cs_json_get_string(root, "format", false, WHERE, &format, err)) < 0)
        return rc;
    if (strcmp(format, CS_INDEX_FORMAT) != 0)
        return cs_error_set(err, EINVAL, WHERE ": format '%s' is not supported (expected '%s')",
                            format, CS_INDEX_FORMAT);
    if ((rc = cs_json_get_object(root, "app", false, WHERE, &app, err)) < 0)
        return rc;
    static const char *const app_keys[] = {"id", "version", NULL};
    if ((rc = cs_json_check_keys(app, app_keys, WHERE ": field 'app'", err)) < 0 ||
        (rc = cs_json_get_string(app, "id", false, WHERE ": field 'app'", &id, err)) < 0 ||
        (rc = cs_json_get_string(app, "version", false, WHERE ": field 'app'", &version, err)) < 0)
        return rc;
    cs_error inner = {0};
    if (cs_app_id_check(id, &inner) < 0)
        return cs_error_set(err, EINVAL, WHERE ": field 'app.id': %s", inner.message);
    if (!cs_semver_valid(version))
        return cs_error_set(err, EINVAL,
                            WHERE ": field 'app.version': '%s' is not a semantic version", version);
    if ((rc = cs_json_get_string(root, "created", false, WHERE, &created, err)) < 0)
        return rc;
    if (!valid_timestamp(created))
        return cs_error_set(err, EINVAL,
                            WHERE ": field 'created' must look like 2026-01-31T12:00:00Z");

    out->app_id = strdup(id);
    out->version = strdup(version);
    out->created = strdup(created);
    if (!out->app_id || !out->version || !out->created) {
        rc = cs_error_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = parse_digest(root, "manifest_sha256", WHERE, out->manifest_sha256, err)) < 0 ||
        (rc = parse_signer(root, out, err)) < 0)
        goto fail;

    if ((rc = cs_json_get_array(root, "files", false, WHERE, &files, err)) < 0)
        goto fail;
    size_t n = json_array_size(files);
    if (n > CS_INDEX_MAX_FILES) {
        rc = cs_error_set(err, E2BIG, WHERE ": %zu files exceed the limit of %d", n,
                          CS_INDEX_MAX_FILES);
        goto fail;
    }
    out->files = calloc(n ? n : 1, sizeof(*out->files));
    if (!out->files) {
        rc = cs_error_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        rc = parse_file(json_array_get(files, i), i, &out->files[i], err);
        if (rc < 0)
            goto fail;
        out->nfiles++;
        if (i > 0 && strcmp(out->files[i - 1].path, out->files[i].path) >= 0) {
            rc = cs_error_set(err, EINVAL,
                              WHERE ": files[%zu] '%s' is a duplicate or out of order "
                                    "(paths must be unique and sorted)",
                              i, out->files[i].path);
            goto fail;
        }
        out->total_size += out->files[i].size;
        if (out->total_size > CS_PACKAGE_MAX_BYTES) {
            rc = cs_error_set(err, EFBIG, WHERE ": files add up to more than %llu bytes",
                              (unsigned long long)CS_PACKAGE_MAX_BYTES);
            goto fail;
        }
    }
    if ((rc = check_no_file_is_folder(out, err)) < 0)
        goto fail;

    const cs_index_file *manifest = cs_index_find(out, CS_MANIFEST_NAME);
    if (!manifest) {
        rc = cs_error_set(err, EINVAL, WHERE ": no entry for %s", CS_MANIFEST_NAME);
        goto fail;
    }
    if (!cs_digest_equal(manifest->sha256, out->manifest_sha256)) {
        rc = cs_error_set(err, EINVAL,
                          WHERE ": the digest of %s differs from field 'manifest_sha256'",
                          CS_MANIFEST_NAME);
        goto fail;
    }
    return 0;

fail:
    cs_index_free(out);
    return rc;
}

static int compare_path(const void *key, const void *element)
{
    return strcmp((const char *)key, ((const cs_index_file *)element)->path);
}

const cs_index_file *cs_index_find(const cs_index *index, const char *path)
{
    if (index->nfiles == 0)
        return NULL;
    return bsearch(path, index->files, index->nfiles, sizeof(*index->files), compare_path);
}

size_t cs_index_position(const cs_index *index, const cs_index_file *file)
{
    return (size_t)(file - index->files);
}

char *cs_index_serialize(const cs_index *index)
{
    char hex[CS_SHA256_HEX_LEN + 1];
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string(CS_INDEX_FORMAT));
    json_object_set_new(root, "app",
                        json_pack("{s:s, s:s}", "id", index->app_id, "version", index->version));
    cs_hex_encode(index->manifest_sha256, CS_SHA256_LEN, hex);
    json_object_set_new(root, "manifest_sha256", json_string(hex));
    json_object_set_new(root, "created", json_string(index->created));

    json_t *signer;
    if (index->signer_type == CS_SIGNER_X509)
        signer = json_pack("{s:s, s:s, s:s, s:s}", "type", "x509", "key_id", index->signer_key_id,
                           "subject", index->signer_subject, "certificate_sha256",
                           index->signer_cert_sha256);
    else
        signer = json_pack("{s:s, s:s}", "type", "ed25519", "key_id", index->signer_key_id);
    json_object_set_new(root, "signer", signer);

    json_t *files = json_array();
    for (size_t i = 0; i < index->nfiles; i++) {
        const cs_index_file *f = &index->files[i];
        cs_hex_encode(f->sha256, CS_SHA256_LEN, hex);
        json_array_append_new(files, json_pack("{s:s, s:I, s:s, s:s}", "path", f->path, "size",
                                               (json_int_t)f->size, "sha256", hex, "mode",
                                               f->mode == 0755 ? "0755" : "0644"));
    }
    json_object_set_new(root, "files", files);

    /* json_pack and json_string return NULL for strings that are not UTF-8;
     * an index with a field missing must never be produced. */
    bool complete = json_object_size(root) == 6 && json_object_get(root, "signer") &&
                    json_object_get(root, "app") && json_array_size(files) == index->nfiles;
    for (size_t i = 0; complete && i < index->nfiles; i++)
        complete = json_array_get(files, i) != NULL;
    char *text = complete ? cs_json_dump_canonical(root) : NULL;
    json_decref(root);
    return text;
}

void cs_index_free(cs_index *index)
{
    for (size_t i = 0; i < index->nfiles; i++)
        free(index->files[i].path);
    free(index->files);
    free(index->app_id);
    free(index->version);
    free(index->created);
    free(index->signer_subject);
    memset(index, 0, sizeof(*index));
}
