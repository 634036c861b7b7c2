/* Fuzz target for the repository metadata parser. The first byte picks the
 * metadata type (root, targets, snapshot, timestamp); the rest is the file.
 * Every file that parses also goes through the lookups and checks. */
#include "update/metadata.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void exercise_targets(const cs_meta *meta)
{
    const json_t *targets = json_object_get(cs_meta_signed(meta), "targets");
    const char *app_id;
    json_t *app;
    json_object_foreach((json_t *)targets, app_id, app)
    {
        cs_meta_target target;
        const char *channel;
        json_t *version;
        json_object_foreach(json_object_get(app, "channels"), channel, version)
        {
            if (cs_meta_find_target(meta, app_id, channel, NULL, &target, NULL) != 0)
                abort(); /* the parser checked that every channel names a listed version */
        }
        (void)cs_meta_delegation_for(meta, app_id);
        (void)cs_meta_delegation_allows(meta, "acme", app_id);
    }
    cs_meta_target target;
    (void)cs_meta_find_target(meta, "com.example.hello", "stable", NULL, &target, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cs_meta_type type = (cs_meta_type)(data[0] % 4);
    cs_meta *meta = NULL;
    cs_error err = {0};
    if (cs_meta_parse(data + 1, size - 1, type, "fuzz.json", &meta, &err) != 0)
        return 0;

    /* The canonical form of a parsed file must parse back to equal JSON. */
    size_t len;
    char *canonical = cs_meta_canonical(cs_meta_signed(meta), &len);
    if (canonical) {
        json_t *again = json_loadb(canonical, len, JSON_REJECT_DUPLICATES, NULL);
        if (!again || !json_equal(again, (json_t *)cs_meta_signed(meta)))
            abort();
        json_decref(again);
        free(canonical);
    }

    cs_meta_file file;
    (void)cs_meta_check_expiry(meta, 0, &err);
    (void)cs_meta_find_file(meta, "snapshot.json", &file, &err);
    (void)cs_meta_find_file(meta, "targets.json", &file, &err);
    switch (type) {
    case CS_META_ROOT: {
        bool changed;
        (void)cs_meta_verify_role(meta, CS_META_ROOT, meta, &err);
        (void)cs_meta_verify_root_update(meta, meta, &changed, &err);
        break;
    }
    case CS_META_TARGETS:
        exercise_targets(meta);
        break;
    case CS_META_SNAPSHOT:
    case CS_META_TIMESTAMP:
        break;
    }
    cs_meta_free(meta);
    return 0;
}
