/* The app manifest, cashstory.json at the root of every app.
 *
 * Required: "id" (reverse-DNS, lowercase), "name", "version" (semver), "main"
 * (the entry script, a package path). Optional: "description", "permissions"
 * ({"fs": [...], "net": [...], "bus": {"publish": [...], "subscribe": [...]}}),
 * "windows" ([{"id", "url", "title", "width", "height", "resizable"}]) and
 * "runtime" (a version range). Unknown fields are errors. docs/formats.md
 * specifies each field. */
#pragma once

#include "common/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CS_MANIFEST_NAME "cashstory.json"
#define CS_MANIFEST_MAX (1024 * 1024)
#define CS_APP_ID_MAX 128
#define CS_APP_NAME_MAX 128

typedef struct cs_manifest {
    json_t *root; /* owns every string below */
    const char *id;
    const char *name;
    const char *version;
    const char *main;
    const char *description; /* NULL when absent */
    const char *runtime;     /* NULL when absent */
    json_t *permissions;     /* NULL when absent */
    json_t *windows;         /* NULL when absent */
} cs_manifest;

/* Parse and validate manifest bytes. Every error names the field and the
 * reason. On success the caller frees out with cs_manifest_free. */
int cs_manifest_parse(const void *data, size_t len, cs_manifest *out, cs_error *err);

/* Read and parse the manifest of the app folder dir (relative to dirfd, or
 * AT_FDCWD), or with dir NULL the manifest directly below dirfd. A symbolic
 * link as the manifest is rejected. */
int cs_manifest_load(int dirfd, const char *dir, cs_manifest *out, cs_error *err);
void cs_manifest_free(cs_manifest *manifest);

/* Check an app id: 2 to 16 dot-separated labels of lowercase letters, digits
 * and '-', each label 1-63 bytes and not starting or ending with '-', the first
 * starting with a letter, at most CS_APP_ID_MAX bytes in all. */
int cs_app_id_check(const char *id, cs_error *err);

/* True when host is a network host pattern: "api.example.com",
 * "*.example.com" or "example.com:8443" (lowercase). */
bool cs_manifest_host_valid(const char *host);

/* True when topic is a bus topic pattern: segments of letters, digits, '.',
 * '_' and '-' separated by single '/', or '*' as a whole segment. */
bool cs_manifest_topic_valid(const char *topic);

/* Paths the manifest refers to ("main" and each window "url"), for checking
 * against the package's files. Calls fn for each; stops at the first error. */
int cs_manifest_foreach_path(const cs_manifest *manifest,
                             int (*fn)(const char *field, const char *path, void *ctx), void *ctx);
