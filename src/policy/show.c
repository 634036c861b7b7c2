/* The merged view of the policy files for 'cashstory policy show'. */
#include "policy/internal.h"

#include <string.h>

static const char *level_name(cs_policy_level level)
{
    return level == CS_POLICY_MANAGED ? "managed" : "recommended";
}

/* Settings whose value is one thing, so that a managed value replaces a
 * recommended one; lists of rules combine instead. */
static bool single_value(const char *setting)
{
    static const char *const lists[] = {"fs",
                                        "net.allow",
                                        "net.deny",
                                        "bus.publish",
                                        "bus.subscribe",
                                        "bus.deny_publish",
                                        "bus.deny_subscribe",
                                        "run.allow",
                                        "run.block",
                                        "trust.publishers",
                                        "trust.ca_certificates",
                                        "trust.blocked_publishers",
                                        NULL};
    for (const char *const *l = lists; *l; l++)
        if (strcmp(*l, setting) == 0)
            return false;
    return true;
}

static void add(json_t *settings, const cs_policy_file *f, const char *scope, const char *setting,
                json_t *value)
{
    json_array_append_new(settings, json_pack("{s:s, s:s, s:O, s:s, s:s}", "scope", scope,
                                              "setting", setting, "value", value, "file", f->path,
                                              "level", level_name(f->level)));
}

/* Add each setting of a block; objects one level down are split into
 * their keys ("bus.publish", "limits.memory_mb"). */
static void add_block(json_t *settings, const cs_policy_file *f, const char *scope, json_t *block)
{
    const char *key;
    json_t *value;
    json_object_foreach(block, key, value)
    {
        if (json_is_object(value) && strcmp(scope, "repositories") != 0) {
            const char *sub;
            json_t *v;
            json_object_foreach(value, sub, v)
            {
                char name[256];
                snprintf(name, sizeof(name), "%s.%s", key, sub);
                add(settings, f, scope, name, v);
            }
        } else {
            add(settings, f, scope, key, value);
        }
    }
}

json_t *cs_policy_show(const cs_policy *p)
{
    json_t *files = json_array();
    json_t *settings = json_array();
    json_t *problems = json_array();
    for (size_t i = 0; i < p->nfiles; i++) {
        const cs_policy_file *f = &p->files[i];
        const char *status = "ok";
        if (!f->root)
            status = "broken";
        else if (f->nbroken)
            status = "partly broken";
        json_array_append_new(files, json_pack("{s:s, s:s, s:s}", "path", f->path, "level",
                                               level_name(f->level), "status", status));
        if (!f->root)
            continue;
        const char *key;
        json_t *value;
        json_object_foreach(f->root, key, value)
        {
            if (strcmp(key, "description") == 0)
                continue;
            if (strcmp(key, "publishers") == 0 || strcmp(key, "apps") == 0) {
                const char *name;
                json_t *block;
                json_object_foreach(value, name, block)
                {
                    char scope[600];
                    snprintf(scope, sizeof(scope), "%s.\"%s\"", key, name);
                    add_block(settings, f, scope, block);
                }
            } else if (strcmp(key, "defaults") == 0) {
                add_block(settings, f, "defaults", value);
            } else if (strcmp(key, "trust") == 0 || strcmp(key, "run") == 0 ||
                       strcmp(key, "audit") == 0 || strcmp(key, "repositories") == 0) {
                const char *sub;
                json_t *v;
                json_object_foreach(value, sub, v)
                {
                    char name[64];
                    snprintf(name, sizeof(name), "%s.%s", key, sub);
                    add(settings, f, "", name, v);
                }
            } else {
                add_block(settings, f, key, value);
            }
        }
    }

    /* Mark single values that a value of higher precedence replaces: a
     * managed one, or at the same level the one the tie rule prefers. */
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(settings, i, a)
    {
        const char *setting = json_string_value(json_object_get(a, "setting"));
        if (!single_value(setting))
            continue;
        json_array_foreach(settings, j, b)
        {
            if (i == j ||
                strcmp(json_string_value(json_object_get(a, "scope")),
                       json_string_value(json_object_get(b, "scope"))) != 0 ||
                strcmp(setting, json_string_value(json_object_get(b, "setting"))) != 0)
                continue;
            bool a_managed = strcmp(json_string_value(json_object_get(a, "level")), "managed") == 0;
            bool b_managed = strcmp(json_string_value(json_object_get(b, "level")), "managed") == 0;
            json_t *av = json_object_get(a, "value"), *bv = json_object_get(b, "value");
            bool b_wins_tie = j > i ? cs_policy_later_wins(setting, bv, av)
                                    : !cs_policy_later_wins(setting, av, bv);
            if ((b_managed && !a_managed) || (b_managed == a_managed && b_wins_tie))
                json_object_set(a, "overridden_by", json_object_get(b, "file"));
        }
    }
    for (size_t k = 0; k < p->nproblems; k++)
        json_array_append_new(problems,
                              json_pack("{s:s, s:s, s:b}", "file", p->problems[k].file, "message",
                                        p->problems[k].message, "ignored", p->problems[k].ignored));
    return json_pack("{s:s?, s:b, s:o, s:o, s:o}", "location", p->location, "present", p->present,
                     "files", files, "settings", settings, "problems", problems);
}
