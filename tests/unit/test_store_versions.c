/* Store functions that the update client uses: installing a verified
 * folder, staging a version for the next start, and rollback. */
#include "common/fsutil.h"
#include "crypto/keys.h"
#include "package/pack.h"
#include "package/store.h"
#include "package/verify.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
    char store[128];
    cs_trust trust;
} fixture;

static void write_text(const char *path, const char *text)
{
    assert_int_equal(cs_write_file_atomic(path, text, strlen(text), 0644, NULL), 0);
}

/* Make an app folder with the given version, pack it and extract the
 * package into store/update/stage-VERSION, as the update client does. */
static void stage_version(fixture *f, const char *version, char *stage, size_t size)
{
    char app[256], path[512], csa[256];
    snprintf(app, sizeof(app), "%s/app-%s", f->dir, version);
    assert_int_equal(cs_mkdir_p(app, 0755, NULL), 0);
    snprintf(path, sizeof(path), "%s/cashstory.json", app);
    char manifest[256];
    snprintf(manifest, sizeof(manifest),
             "{\"id\": \"com.example.hello\", \"name\": \"Hello\", \"version\": \"%s\", "
             "\"main\": \"main.js\"}\n",
             version);
    write_text(path, manifest);
    snprintf(path, sizeof(path), "%s/main.js", app);
    write_text(path, "console.log('hello');\n");

    snprintf(csa, sizeof(csa), "%s/%s.csa", f->dir, version);
    char key[256];
    snprintf(key, sizeof(key), "%s/publisher.key", f->dir);
    cs_pack_options options = {.dir = app, .key_path = key, .out_path = csa};
    cs_pack_result result;
    cs_error err = {0};
    if (cs_pack(&options, &result, &err) < 0)
        fail_msg("pack %s: %s", version, err.message);

    snprintf(stage, size, "%s/update/stage-%s", f->store, version);
    assert_int_equal(cs_mkdir_p(stage, 0755, NULL), 0);
    int fd = open(stage, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    cs_verify_result res;
    if (cs_verify_archive(csa, &f->trust, fd, &res, &err) < 0)
        fail_msg("extract %s: %s", version, err.message);
    cs_verify_result_free(&res);
    close(fd);
}

static void install(fixture *f, const char *version, bool activate)
{
    char stage[512];
    stage_version(f, version, stage, sizeof(stage));
    cs_verify_result res;
    cs_error err = {0};
    int rc = cs_store_install_dir(f->store, stage, &f->trust, "https://127.0.0.1/repo", "https",
                                  activate, &res, &err);
    cs_verify_result_free(&res);
    if (rc < 0)
        fail_msg("install %s: %s", version, err.message);
    assert_int_equal(access(stage, F_OK), -1);
}

static void assert_link(fixture *f, const char *link, const char *expected)
{
    char *version = NULL;
    int rc = cs_store_link_version(f->store, "com.example.hello", link, NULL, &version, NULL);
    if (!expected) {
        assert_int_equal(rc, -ENOENT);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(version, expected);
    free(version);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/cs-store-versions-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
    char base[128], pub[160];
    snprintf(base, sizeof(base), "%s/publisher", f->dir);
    char key_id[CS_KEY_ID_HEX_LEN + 1];
    assert_int_equal(cs_key_generate(base, key_id, NULL), 0);
    cs_trust_init(&f->trust);
    snprintf(pub, sizeof(pub), "%s.pub", base);
    assert_int_equal(cs_trust_add_key_file(&f->trust, pub, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cs_trust_free(&f->trust);
    char *parent = cs_dirname(f->dir);
    int fd = open(parent, O_RDONLY | O_DIRECTORY);
    cs_remove_tree_at(fd, strrchr(f->dir, '/') + 1);
    close(fd);
    free(parent);
    free(f);
    return 0;
}

static void install_dir_keeps_previous(void **state)
{
    fixture *f = *state;
    install(f, "1.0.0", true);
    assert_link(f, "current", "1.0.0");
    assert_link(f, "previous", NULL);
    install(f, "1.1.0", true);
    assert_link(f, "current", "1.1.0");
    assert_link(f, "previous", "1.0.0");

    char *path = NULL;
    assert_int_equal(cs_store_app_path(f->store, "com.example.hello", &path, NULL), 0);
    char origin[512];
    snprintf(origin, sizeof(origin), "%s/.cashstory/origin.json", path);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(cs_read_file(origin, 4096, &data, &len, NULL), 0);
    assert_non_null(strstr((char *)data, "https://127.0.0.1/repo"));
    free(data);
    free(path);
}

static void rollback_swaps_versions(void **state)
{
    fixture *f = *state;
    install(f, "1.0.0", true);
    install(f, "1.1.0", true);
    char *from = NULL, *to = NULL;
    assert_int_equal(cs_store_rollback(f->store, "com.example.hello", &from, &to, NULL), 0);
    assert_string_equal(from, "1.1.0");
    assert_string_equal(to, "1.0.0");
    free(from);
    free(to);
    assert_link(f, "current", "1.0.0");
    assert_link(f, "previous", "1.1.0");

    /* A second rollback undoes the first. */
    assert_int_equal(cs_store_rollback(f->store, "com.example.hello", &from, &to, NULL), 0);
    free(from);
    free(to);
    assert_link(f, "current", "1.1.0");
    assert_link(f, "previous", "1.0.0");
}

static void rollback_needs_previous(void **state)
{
    fixture *f = *state;
    char *from = NULL, *to = NULL;
    assert_int_equal(cs_store_rollback(f->store, "com.example.hello", &from, &to, NULL), -ENOENT);
    install(f, "1.0.0", true);
    cs_error err = {0};
    assert_int_equal(cs_store_rollback(f->store, "com.example.hello", &from, &to, &err), -ENOENT);
    assert_non_null(strstr(err.message, "no previous version"));
    assert_null(from);
    assert_null(to);
}

static void staged_version_waits_for_start(void **state)
{
    fixture *f = *state;
    install(f, "1.0.0", true);
    install(f, "1.1.0", false);
    assert_link(f, "current", "1.0.0");
    assert_link(f, "next", "1.1.0");

    /* Another store change keeps the staged version. */
    install(f, "1.0.1", false);
    assert_link(f, "next", "1.0.1");

    bool activated = false;
    assert_int_equal(cs_store_activate_next(f->store, "com.example.hello", &activated, NULL), 0);
    assert_true(activated);
    assert_link(f, "current", "1.0.1");
    assert_link(f, "previous", "1.0.0");
    assert_link(f, "next", NULL);

    assert_int_equal(cs_store_activate_next(f->store, "com.example.hello", &activated, NULL), 0);
    assert_false(activated);
}

static void install_replaces_staged_version(void **state)
{
    fixture *f = *state;
    install(f, "1.0.0", true);
    install(f, "1.1.0", false);
    install(f, "1.2.0", true);
    assert_link(f, "current", "1.2.0");
    assert_link(f, "next", NULL);
}

static void tampered_stage_rejected(void **state)
{
    fixture *f = *state;
    install(f, "1.0.0", true);
    char stage[512], path[600];
    stage_version(f, "1.1.0", stage, sizeof(stage));
    snprintf(path, sizeof(path), "%s/main.js", stage);
    chmod(path, 0644);
    write_text(path, "console.log('changed');\n");
    cs_verify_result res;
    assert_int_equal(cs_store_install_dir(f->store, stage, &f->trust, "https://127.0.0.1/repo",
                                          "https", true, &res, NULL),
                     -CS_EVERIFY);
    cs_verify_result_free(&res);
    assert_link(f, "current", "1.0.0");
    assert_int_equal(access(stage, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(install_dir_keeps_previous, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_swaps_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_needs_previous, setup, teardown),
        cmocka_unit_test_setup_teardown(staged_version_waits_for_start, setup, teardown),
        cmocka_unit_test_setup_teardown(install_replaces_staged_version, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_stage_rejected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
