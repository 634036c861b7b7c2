/* The policy engine, table-driven: each case writes policy files, requests
 * one decision and checks it and the file and rule that made it. */
#include "policy/policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* Where the files of a case live; "@" in policy text and paths stands
 * for this folder. */
static char root[256];

typedef struct policy_file {
    const char *name; /* "managed/10-a.json" or "recommended/x.json" */
    const char *text;
} policy_file;

typedef enum ask { RUN, RUN_DEV, FS_READ, FS_WRITE, PUBLISH, SUBSCRIBE, NET, FLAG } ask;

typedef struct policy_case {
    const char *name;
    policy_file files[4];
    const char *app_id;
    const char *publisher; /* key id, or NULL */
    const char *version;
    ask question;
    const char *target; /* path, topic, host or flag name */
    bool granted;
    bool writable;
    const char *decided_by; /* substring of file, or NULL for no file */
    const char *rule;       /* substring of the rule, or NULL */
} policy_case;

static void replace_at(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 1 < size; in++) {
        if (*in == '@') {
            n += (size_t)snprintf(out + n, size - n, "%s", root);
            if (n >= size)
                n = size - 1;
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

static void write_text(const char *rel, const char *text)
{
    char path[512];
    bool level = strncmp(rel, "managed/", 8) == 0 || strncmp(rel, "recommended/", 12) == 0;
    snprintf(path, sizeof(path), "%s/%s%s", root, level ? "policies/" : "", rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
    *slash = '/';
    static char expanded[16384];
    replace_at(text, expanded, sizeof(expanded));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(expanded, f);
    fclose(f);
    chmod(path, 0644);
}

static void fresh_root(void)
{
    char cmd[600];
    if (root[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(root, sizeof(root), "/tmp/cashstory-policy-test-XXXXXX");
    assert_non_null(mkdtemp(root));
    chmod(root, 0755);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/data' '%s/shared/sub' '%s/outside' '%s/home/docs'",
             root, root, root, root);
    assert_int_equal(system(cmd), 0);
    char link[512], target[512];
    snprintf(link, sizeof(link), "%s/shared/link", root);
    snprintf(target, sizeof(target), "%s/outside", root);
    assert_int_equal(symlink(target, link), 0);
}

static void load(const policy_case *c, cs_policy *p)
{
    fresh_root();
    for (size_t i = 0; i < 4 && c->files[i].name; i++)
        write_text(c->files[i].name, c->files[i].text);
    char location[300];
    snprintf(location, sizeof(location), "%s/policies", root);
    cs_error err = {0};
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", location);
    assert_int_equal(system(cmd), 0);
    /* Files written at the top of the case folder are single-file cases. */
    if (c->files[0].name && strchr(c->files[0].name, '/') == NULL)
        snprintf(location, sizeof(location), "%s/%s", root, c->files[0].name);
    assert_int_equal(cs_policy_load(p, location, false, &err), 0);
}

static void check_case(const policy_case *c)
{
    cs_policy p;
    load(c, &p);
    char home[300], data[300], target[512];
    snprintf(home, sizeof(home), "%s/home", root);
    snprintf(data, sizeof(data), "%s/data", root);
    replace_at(c->target ? c->target : "", target, sizeof(target));
    cs_policy_subject subj = {
        .app_id = c->app_id ? c->app_id : "com.example.app",
        .version = c->version ? c->version : "1.0.0",
        .publisher_key = c->publisher,
        .home = home,
        .app_data = data,
    };
    cs_policy_decision d;
    switch (c->question) {
    case RUN:
    case RUN_DEV:
        cs_policy_may_run(&p, &subj, c->question == RUN_DEV, &d);
        break;
    case FS_READ:
    case FS_WRITE:
        cs_policy_fs(&p, &subj, target, c->question == FS_WRITE, &d);
        break;
    case PUBLISH:
    case SUBSCRIBE:
        cs_policy_bus(&p, &subj, c->question == PUBLISH ? "publish" : "subscribe", target, &d);
        break;
    case NET:
        cs_policy_net(&p, &subj, target, &d);
        break;
    case FLAG:
        cs_policy_flag(&p, &subj, target, &d);
        break;
    }
    if (d.granted != c->granted || (c->granted && d.writable != c->writable) ||
        (c->decided_by && !strstr(d.file, c->decided_by)) || (!c->decided_by && d.file[0]) ||
        (c->rule && !strstr(d.rule, c->rule)))
        fail_msg("case '%s': granted %d writable %d file '%s' rule '%s'\n  reason: %s", c->name,
                 d.granted, d.writable, d.file, d.rule, d.reason);
    cs_policy_free(&p);
}

static const policy_case cases[] = {
    /* No policy at all: nothing is granted, developer folders may run. */
    {"no policy: fs denied", {{0}}, NULL, NULL, NULL, FS_READ, "/srv", false, false, NULL, NULL},
    {"no policy: bus denied", {{0}}, NULL, NULL, NULL, PUBLISH, "a/b", false, false, NULL, NULL},
    {"no policy: dev folders run", {{0}}, NULL, NULL, NULL, RUN_DEV, NULL, true, false, NULL, NULL},
    {"policy present: dev folders refused",
     {{"managed/a.json", "{}"}},
     NULL,
     NULL,
     NULL,
     RUN_DEV,
     NULL,
     false,
     false,
     NULL,
     NULL},
    {"dev folders allowed by both flags",
     {{"managed/a.json", "{\"defaults\": {\"developer_mode\": true, \"unsigned_folders\": true}}"}},
     NULL,
     NULL,
     NULL,
     RUN_DEV,
     NULL,
     true,
     false,
     NULL,
     NULL},

    /* Bus topics and wildcards. */
    {"bus: granted by app rule",
     {{"managed/10-bank.json", "{\"apps\": {\"com.example.app\": {\"bus\": {\"publish\": "
                               "[\"quotes/*\"]}}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/*",
     true,
     false,
     "10-bank.json",
     "apps.\"com.example.app\".bus.publish[0]"},
    {"bus: wildcard covers one segment",
     {{"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"quotes/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/eur",
     true,
     false,
     "a.json",
     NULL},
    {"bus: wildcard does not cover two segments",
     {{"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"quotes/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/eur/usd",
     false,
     false,
     NULL,
     NULL},
    {"bus: publish grant is not a subscribe grant",
     {{"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"quotes/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     SUBSCRIBE,
     "quotes/*",
     false,
     false,
     NULL,
     NULL},
    {"deny beats allow in the same scope and level",
     {{"managed/10-a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"quotes/*\"]}}}"},
      {"managed/20-b.json", "{\"defaults\": {\"bus\": {\"deny_publish\": [\"quotes/secret\"]}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/*",
     false,
     false,
     "20-b.json",
     "deny_publish[0]"},
    {"deny of another topic leaves the grant",
     {{"managed/10-a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"quotes/*\"], "
                            "\"deny_publish\": [\"orders/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/eur",
     true,
     false,
     "10-a.json",
     NULL},
    {"managed beats recommended",
     {{"recommended/a.json", "{\"apps\": {\"com.example.app\": {\"bus\": {\"publish\": "
                             "[\"quotes/*\"]}}}}"},
      {"managed/a.json", "{\"defaults\": {\"bus\": {\"deny_publish\": [\"quotes/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/*",
     false,
     false,
     "managed/a.json",
     "managed defaults"},
    {"a managed grant beats a recommended deny",
     {{"recommended/a.json", "{\"apps\": {\"com.example.app\": {\"bus\": {\"deny_publish\": "
                             "[\"quotes/*\"]}}}}"},
      {"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"quotes/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/*",
     true,
     false,
     "managed/a.json",
     NULL},
    {"recommended applies when managed is silent",
     {{"recommended/a.json", "{\"defaults\": {\"bus\": {\"subscribe\": [\"news/*\"]}}}"},
      {"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"quotes/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     SUBSCRIBE,
     "news/*",
     true,
     false,
     "recommended/a.json",
     "recommended defaults"},
    {"the exact app beats defaults",
     {{"managed/a.json", "{\"defaults\": {\"bus\": {\"deny_publish\": [\"quotes/*\"]}}, \"apps\": "
                         "{\"com.example.app\": {\"bus\": {\"publish\": [\"quotes/*\"]}}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/*",
     true,
     false,
     "a.json",
     "apps.\"com.example.app\""},
    {"the exact app beats an id pattern",
     {{"managed/a.json", "{\"apps\": {\"com.example.*\": {\"bus\": {\"publish\": [\"quotes/*\"]}}, "
                         "\"com.example.app\": {\"bus\": {\"deny_publish\": [\"quotes/*\"]}}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "quotes/*",
     false,
     false,
     "a.json",
     "apps.\"com.example.app\".bus.deny_publish"},
    {"an id pattern covers the app",
     {{"managed/a.json", "{\"apps\": {\"com.example.*\": {\"bus\": {\"publish\": [\"q/*\"]}}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "q/*",
     true,
     false,
     "a.json",
     "apps.\"com.example.*\""},
    {"an id pattern does not cover another vendor",
     {{"managed/a.json", "{\"apps\": {\"com.example.*\": {\"bus\": {\"publish\": [\"q/*\"]}}}}"}},
     "org.other.app",
     NULL,
     NULL,
     PUBLISH,
     "q/*",
     false,
     false,
     NULL,
     NULL},
    {"a publisher rule covers its apps",
     {{"managed/a.json", "{\"publishers\": {\"" KEY_A "\": {\"bus\": {\"publish\": [\"q/*\"]}}}}"}},
     NULL,
     KEY_A,
     NULL,
     PUBLISH,
     "q/*",
     true,
     false,
     "a.json",
     "publishers."},
    {"a publisher rule does not cover another publisher",
     {{"managed/a.json", "{\"publishers\": {\"" KEY_A "\": {\"bus\": {\"publish\": [\"q/*\"]}}}}"}},
     NULL,
     KEY_B,
     NULL,
     PUBLISH,
     "q/*",
     false,
     false,
     NULL,
     NULL},
    {"an app rule beats its publisher's rule",
     {{"managed/a.json",
       "{\"publishers\": {\"" KEY_A "\": {\"bus\": {\"publish\": [\"q/*\"]}}}, \"apps\": "
       "{\"com.example.app\": {\"bus\": {\"deny_publish\": [\"q/*\"]}}}}"}},
     NULL,
     KEY_A,
     NULL,
     PUBLISH,
     "q/*",
     false,
     false,
     "a.json",
     "apps."},

    /* File system. */
    {"fs: read grant",
     {{"managed/a.json", "{\"defaults\": {\"fs\": [{\"path\": \"@/shared\", \"access\": "
                         "\"read\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_READ,
     "@/shared/sub",
     true,
     false,
     "a.json",
     "defaults.fs[0]"},
    {"fs: read grant gives read-only to a write request",
     {{"managed/a.json", "{\"defaults\": {\"fs\": [{\"path\": \"@/shared\", \"access\": "
                         "\"read\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_WRITE,
     "@/shared",
     true,
     false,
     "a.json",
     NULL},
    {"fs: read-write grant",
     {{"managed/a.json", "{\"defaults\": {\"fs\": [{\"path\": \"@/shared\", \"access\": "
                         "\"read-write\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_WRITE,
     "@/shared",
     true,
     true,
     "a.json",
     NULL},
    {"fs: read beats read-write on the same folder and level",
     {{"managed/a.json", "{\"defaults\": {\"fs\": [{\"path\": \"@/shared\", \"access\": "
                         "\"read-write\"}]}}"},
      {"managed/b.json", "{\"defaults\": {\"fs\": [{\"path\": \"@/shared\", \"access\": "
                         "\"read\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_WRITE,
     "@/shared",
     true,
     false,
     "b.json",
     NULL},
    {"fs: a symbolic link cannot leave the granted folder",
     {{"managed/a.json", "{\"defaults\": {\"fs\": [{\"path\": \"@/shared\", \"access\": "
                         "\"read\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_READ,
     "@/shared/link",
     false,
     false,
     NULL,
     NULL},
    {"fs: a sibling with the same prefix is not inside",
     {{"managed/a.json", "{\"defaults\": {\"fs\": [{\"path\": \"@/sha\", \"access\": "
                         "\"read\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_READ,
     "@/shared",
     false,
     false,
     NULL,
     NULL},
    {"fs: a deny inside a granted folder denies the folder",
     {{"managed/a.json",
       "{\"defaults\": {\"fs\": [{\"path\": \"@/shared\", \"access\": \"read-write\"}, "
       "{\"path\": \"@/shared/sub\", \"access\": \"deny\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_READ,
     "@/shared",
     false,
     false,
     "a.json",
     "fs[1]"},
    {"fs: home expansion",
     {{"managed/a.json", "{\"defaults\": {\"fs\": [{\"path\": \"~/docs\", \"access\": "
                         "\"read\"}]}}"}},
     NULL,
     NULL,
     NULL,
     FS_READ,
     "~/docs",
     true,
     false,
     "a.json",
     NULL},
    {"fs: the data folder needs no grant",
     {{"managed/a.json", "{}"}},
     NULL,
     NULL,
     NULL,
     FS_WRITE,
     "${APP_DATA}/cache",
     true,
     true,
     NULL,
     NULL},
    {"fs: a '..' path in policy breaks its scope",
     {{"managed/a.json", "{\"apps\": {\"com.example.app\": {\"fs\": [{\"path\": "
                         "\"@/shared/../outside\", \"access\": \"read\"}]}}}"}},
     NULL,
     NULL,
     NULL,
     FS_READ,
     "@/outside",
     false,
     false,
     "a.json",
     "has an error"},

    /* Broken files fail closed. */
    {"broken JSON denies everything",
     {{"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"q/*\"]}}}"},
      {"managed/b.json", "{ not json"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "q/*",
     false,
     false,
     "b.json",
     "whole file"},
    {"an unknown top-level key denies everything",
     {{"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"q/*\"]}}, \"aps\": {}}"}},
     NULL,
     NULL,
     NULL,
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "whole file"},
    {"an unknown key in one app denies that app",
     {{"managed/a.json", "{\"apps\": {\"com.example.app\": {\"bsu\": {}}}}"}},
     NULL,
     NULL,
     NULL,
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "apps.\"com.example.app\""},
    {"an unknown key in one app leaves the others",
     {{"managed/a.json", "{\"apps\": {\"com.example.app\": {\"bsu\": {}}, \"org.other.app\": "
                         "{\"bus\": {\"publish\": [\"q/*\"]}}}}"}},
     "org.other.app",
     NULL,
     NULL,
     PUBLISH,
     "q/*",
     true,
     false,
     "a.json",
     NULL},
    {"a broken recommended file also fails closed",
     {{"recommended/a.json", "[1, 2]"}},
     NULL,
     NULL,
     NULL,
     RUN,
     NULL,
     false,
     false,
     "recommended/a.json",
     NULL},
    {"a single file is read as managed policy",
     {{"single.json", "{\"defaults\": {\"bus\": {\"publish\": [\"q/*\"]}}}"}},
     NULL,
     NULL,
     NULL,
     PUBLISH,
     "q/*",
     true,
     false,
     "single.json",
     "managed defaults"},

    /* Flags and run decisions. */
    {"flag: false beats true at the same level",
     {{"managed/a.json", "{\"defaults\": {\"remote_debugging\": true}}"},
      {"managed/b.json", "{\"defaults\": {\"remote_debugging\": false}}"}},
     NULL,
     NULL,
     NULL,
     FLAG,
     "remote_debugging",
     false,
     false,
     "b.json",
     NULL},
    {"flag: the app beats defaults",
     {{"managed/a.json", "{\"defaults\": {\"remote_debugging\": false}, \"apps\": "
                         "{\"com.example.app\": {\"remote_debugging\": true}}}"}},
     NULL,
     NULL,
     NULL,
     FLAG,
     "remote_debugging",
     true,
     false,
     "a.json",
     NULL},
    {"flag: off by default",
     {{"managed/a.json", "{}"}},
     NULL,
     NULL,
     NULL,
     FLAG,
     "remote_debugging",
     false,
     false,
     NULL,
     "built-in default"},
    {"run: blocked app",
     {{"managed/a.json", "{\"run\": {\"block\": [\"com.example.*\"]}}"}},
     NULL,
     NULL,
     NULL,
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "run.block[0]"},
    {"run: blocked publisher",
     {{"managed/a.json", "{\"trust\": {\"blocked_publishers\": [\"" KEY_A "\"]}}"}},
     NULL,
     KEY_A,
     NULL,
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "blocked_publishers[0]"},
    {"run: block beats allow",
     {{"managed/a.json", "{\"run\": {\"allow\": [\"com.example.app\"]}}"},
      {"recommended/a.json", "{\"run\": {\"block\": [\"publisher:" KEY_A "\"]}}"}},
     NULL,
     KEY_A,
     NULL,
     RUN,
     NULL,
     false,
     false,
     "recommended/a.json",
     NULL},
    {"run: not in the allow list",
     {{"managed/a.json", "{\"run\": {\"allow\": [\"org.other.*\"]}}"}},
     NULL,
     NULL,
     NULL,
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "run.allow"},
    {"run: allowed by publisher",
     {{"managed/a.json", "{\"run\": {\"allow\": [\"publisher:" KEY_A "\"]}}"}},
     NULL,
     KEY_A,
     NULL,
     RUN,
     NULL,
     true,
     false,
     "a.json",
     "run.allow[0]"},
    {"run: pinned version",
     {{"managed/a.json", "{\"apps\": {\"com.example.app\": {\"versions\": {\"pinned\": "
                         "\"1.0.0\"}}}}"}},
     NULL,
     NULL,
     "1.1.0",
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "versions.pinned"},
    {"run: below the minimum version",
     {{"managed/a.json", "{\"defaults\": {\"versions\": {\"minimum\": \"2.0.0\"}}}"}},
     NULL,
     NULL,
     "1.9.9",
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "versions.minimum"},
    {"run: outside the version range",
     {{"managed/a.json", "{\"defaults\": {\"versions\": {\"range\": \">=1.0.0 <2.0.0\"}}}"}},
     NULL,
     NULL,
     "2.0.0",
     RUN,
     NULL,
     false,
     false,
     "a.json",
     "versions.range"},

    /* Network hosts. */
    {"net: a wildcard covers subdomains",
     {{"managed/a.json", "{\"defaults\": {\"net\": {\"allow\": [\"*.example.com\"]}}}"}},
     NULL,
     NULL,
     NULL,
     NET,
     "api.example.com",
     true,
     false,
     "a.json",
     NULL},
    {"net: a wildcard does not cover the domain itself",
     {{"managed/a.json", "{\"defaults\": {\"net\": {\"allow\": [\"*.example.com\"]}}}"}},
     NULL,
     NULL,
     NULL,
     NET,
     "example.com",
     false,
     false,
     NULL,
     NULL},
    {"net: the port must match",
     {{"managed/a.json", "{\"defaults\": {\"net\": {\"allow\": [\"api.example.com\"]}}}"}},
     NULL,
     NULL,
     NULL,
     NET,
     "api.example.com:8443",
     false,
     false,
     NULL,
     NULL},
    {"net: deny beats allow",
     {{"managed/a.json", "{\"defaults\": {\"net\": {\"allow\": [\"*.example.com\"], \"deny\": "
                         "[\"evil.example.com\"]}}}"}},
     NULL,
     NULL,
     NULL,
     NET,
     "evil.example.com",
     false,
     false,
     "a.json",
     "net.deny[0]"},
};

static void decisions_follow_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(&cases[i]);
}

static const char *problem_text(const cs_policy *p)
{
    static char text[8192];
    text[0] = '\0';
    for (size_t i = 0; i < p->nproblems; i++) {
        strncat(text, p->problems[i].message, sizeof(text) - strlen(text) - 2);
        strcat(text, "\n");
    }
    return text;
}

static void unknown_keys_name_the_file_and_nearest_key(void **state)
{
    (void)state;
    policy_case c = {.files = {{"managed/10-bank.json", "{\"apps\": {\"com.example.app\": "
                                                        "{\"limts\": {}}}}"}}};
    cs_policy p;
    load(&c, &p);
    /* The error, then what it denies. */
    assert_int_equal(p.nproblems, 2);
    const char *text = problem_text(&p);
    assert_non_null(strstr(text, "10-bank.json"));
    assert_non_null(strstr(text, "everything is denied to the apps it covers"));
    assert_non_null(strstr(text, "limts"));
    assert_non_null(strstr(text, "limits"));
    cs_policy_free(&p);
}

static void broken_json_names_the_line(void **state)
{
    (void)state;
    policy_case c = {.files = {{"managed/a.json", "{\n  \"defaults\": {\n    \"bus\": ,\n  }\n}"}}};
    cs_policy p;
    load(&c, &p);
    assert_int_equal(p.nproblems, 2);
    assert_non_null(strstr(problem_text(&p), "line 3"));
    cs_policy_free(&p);
}

static void files_at_the_top_of_the_folder_are_reported(void **state)
{
    (void)state;
    policy_case c = {.files = {{"policies/stray.json", "{}"}}};
    cs_policy p;
    load(&c, &p);
    assert_int_equal(p.nproblems, 1);
    assert_true(p.problems[0].ignored);
    assert_non_null(strstr(p.problems[0].message, "managed/ or recommended/"));
    cs_policy_free(&p);
}

static void unsafe_ownership_is_ignored_as_root(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    policy_case c = {
        .files = {{"managed/a.json", "{\"defaults\": {\"bus\": {\"publish\": [\"q/*\"]}}}"}}};
    fresh_root();
    write_text(c.files[0].name, c.files[0].text);
    char path[400], location[300];
    snprintf(path, sizeof(path), "%s/policies/managed/a.json", root);
    snprintf(location, sizeof(location), "%s/policies", root);
    chmod(path, 0666);
    cs_policy p;
    cs_error err = {0};
    cs_policy_subject subj = {.app_id = "com.example.app"};
    cs_policy_decision d;
    assert_int_equal(cs_policy_load(&p, location, false, &err), 0);
    assert_int_equal(p.nproblems, 1);
    assert_true(p.problems[0].ignored);
    assert_non_null(strstr(p.problems[0].message, "writable by group or others"));
    /* The file's grant is not applied, and the machine does not fall back
     * to "no policy": everything is denied, developer folders included. */
    cs_policy_bus(&p, &subj, "publish", "q/*", &d);
    assert_false(d.granted);
    cs_policy_may_run(&p, &subj, true, &d);
    assert_false(d.granted);
    cs_policy_may_run(&p, &subj, false, &d);
    assert_false(d.granted);
    cs_policy_free(&p);

    chmod(path, 0644);
    assert_int_equal(chown(path, 1234, 1234), 0);
    assert_int_equal(cs_policy_load(&p, location, false, &err), 0);
    assert_non_null(strstr(p.problems[0].message, "not owned by root"));
    cs_policy_may_run(&p, &subj, false, &d);
    assert_false(d.granted);
    cs_policy_free(&p);

    /* A folder others can write fails closed too. */
    chown(path, 0, 0);
    snprintf(path, sizeof(path), "%s/policies/managed", root);
    chmod(path, 0777);
    assert_int_equal(cs_policy_load(&p, location, false, &err), 0);
    assert_non_null(strstr(p.problems[0].message, "writable by group or others"));
    cs_policy_may_run(&p, &subj, false, &d);
    assert_false(d.granted);
    cs_policy_free(&p);
}

static void too_many_files_fail_closed(void **state)
{
    (void)state;
    fresh_root();
    char name[64];
    for (int i = 0; i <= CS_POLICY_MAX_FILES; i++) {
        snprintf(name, sizeof(name), "managed/%04d.json", i);
        write_text(name, "{\"defaults\": {\"bus\": {\"publish\": [\"q/*\"]}}}");
    }
    char location[300];
    snprintf(location, sizeof(location), "%s/policies", root);
    cs_policy p;
    cs_error err = {0};
    assert_int_equal(cs_policy_load(&p, location, false, &err), 0);
    cs_policy_subject subj = {.app_id = "com.example.app"};
    cs_policy_decision d;
    cs_policy_bus(&p, &subj, "publish", "q/*", &d);
    assert_false(d.granted);
    assert_non_null(strstr(d.reason, "more than 256 policy files"));
    cs_policy_free(&p);
}

static void every_error_is_listed_with_its_value(void **state)
{
    (void)state;
    policy_case c = {
        .files = {{"managed/a.json",
                   "{\"defaults\": {\"developer_mode\": 1, \"remote_debugging\": \"yes\", "
                   "\"limits\": {\"memory_mb\": \"512\", \"processes\": 0}, \"bus\": "
                   "{\"publish\": [\"ok/*\", \"bad topic\", \"/x\"]}, \"update\": {\"apply\": "
                   "\"later\"}, \"versions\": {\"range\": \">>1\"}}}"}}};
    cs_policy p;
    load(&c, &p);
    const char *text = problem_text(&p);
    assert_non_null(strstr(text, "developer_mode must be true or false, not 1"));
    assert_non_null(strstr(text, "remote_debugging must be true or false, not \"yes\""));
    assert_non_null(strstr(text, "memory_mb must be an integer from 16 to 1048576, not \"512\""));
    assert_non_null(strstr(text, "processes must be an integer from 1 to 65536, not 0"));
    assert_non_null(strstr(text, "publish[1]: \"bad topic\""));
    assert_non_null(strstr(text, "publish[2]: \"/x\""));
    assert_non_null(strstr(text, "apply: 'later'"));
    assert_non_null(strstr(text, "range: '>>1'"));
    assert_non_null(strstr(text, "defaults: everything is denied to every app"));
    cs_policy_free(&p);
}

static void limits_take_the_lower_value_on_a_tie(void **state)
{
    (void)state;
    policy_case c = {
        .files = {{"managed/a.json", "{\"defaults\": {\"limits\": {\"memory_mb\": 512}}}"},
                  {"managed/b.json", "{\"defaults\": {\"limits\": {\"memory_mb\": 256, "
                                     "\"processes\": 8}}}"},
                  {"recommended/a.json", "{\"apps\": {\"com.example.app\": {\"limits\": "
                                         "{\"cpu_percent\": 25}}}}"}}};
    cs_policy p;
    load(&c, &p);
    cs_policy_subject subj = {.app_id = "com.example.app"};
    cs_sandbox_limits limits;
    cs_policy_limits(&p, &subj, &limits);
    assert_int_equal(limits.memory_bytes, 256ULL * 1024 * 1024);
    assert_int_equal(limits.max_pids, 8);
    assert_int_equal(limits.cpu_percent, 25);
    cs_policy_free(&p);
}

static void update_settings_merge(void **state)
{
    (void)state;
    policy_case c = {
        .files = {
            {"recommended/a.json", "{\"defaults\": {\"update\": {\"channel\": \"beta\", "
                                   "\"window\": \"22:00-06:00\"}}}"},
            {"managed/a.json",
             "{\"repositories\": {\"corp\": {\"url\": \"https://127.0.0.1:8443/repo\", \"root\": "
             "\"root.json\"}}, \"defaults\": {\"update\": {\"channel\": \"stable\", "
             "\"rollout_percent\": 50}}, \"apps\": {\"com.example.app\": {\"versions\": "
             "{\"pinned\": \"1.0.0\"}, \"update\": {\"apply\": \"next-start\"}}}}"},
            {"managed/b.json", "{\"defaults\": {\"update\": {\"rollout_percent\": 20}}}"}}};
    cs_policy p;
    load(&c, &p);
    cs_policy_update u;
    cs_policy_update_settings(&p, "com.example.app", NULL, &u);
    assert_string_equal(u.channel, "stable");
    assert_string_equal(u.window, "22:00-06:00");
    assert_string_equal(u.pinned, "1.0.0");
    assert_true(u.at_next_start);
    assert_int_equal(u.rollout_percent, 20);
    assert_string_equal(u.repository, "corp");
    cs_policy_repository repos[4];
    assert_int_equal(cs_policy_repositories(&p, repos, 4), 1);
    assert_string_equal(repos[0].url, "https://127.0.0.1:8443/repo");
    /* A relative root file is relative to the policy file. */
    assert_non_null(strstr(repos[0].root, "/managed/root.json"));
    /* It does not exist: reported, but the file still applies. */
    assert_non_null(strstr(problem_text(&p), "repositories.corp.root: cannot read"));
    cs_policy_free(&p);
}

static void plain_http_needs_allow_http(void **state)
{
    (void)state;
    policy_case c = {
        .files = {{"managed/a.json", "{\"repositories\": {\"corp\": {\"url\": "
                                     "\"http://127.0.0.1/repo\", \"root\": \"r.json\"}}}"}}};
    cs_policy p;
    load(&c, &p);
    assert_int_equal(p.nproblems, 2);
    assert_non_null(strstr(problem_text(&p), "allow_http"));
    cs_policy_free(&p);
}

static void audit_log_records_and_rotates(void **state)
{
    (void)state;
    policy_case c = {.files = {{"managed/a.json", "{\"audit\": {\"path\": \"@/audit/log.jsonl\", "
                                                  "\"max_bytes\": 4096, \"keep\": 2}}"}}};
    cs_policy p;
    load(&c, &p);
    cs_policy_log *log = cs_policy_log_new(NULL);
    cs_policy_log_configure(log, &p);
    cs_policy_subject subj = {.app_id = "com.example.app"};
    cs_policy_decision d;
    char topic[64];
    for (int i = 0; i < 100; i++) {
        snprintf(topic, sizeof(topic), "topic/t%d", i);
        cs_policy_bus(&p, &subj, "publish", topic, &d);
        cs_policy_record(log, subj.app_id, "bus.publish", &d);
        /* The same denial again is not logged twice. */
        cs_policy_record(log, subj.app_id, "bus.publish", &d);
    }
    cs_policy_log_free(log);
    char path[400];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/audit/log.jsonl", root);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size <= 4096);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/audit/log.jsonl.1", root);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/audit/log.jsonl.2", root);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/audit/log.jsonl.3", root);
    assert_int_not_equal(stat(path, &sb), 0);

    /* Each line is one JSON object naming the decision. */
    snprintf(path, sizeof(path), "%s/audit/log.jsonl", root);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int lines = 0;
    while (fgets(line, sizeof(line), f)) {
        json_error_t jerr;
        json_t *v = json_loads(line, 0, &jerr);
        assert_non_null(v);
        assert_string_equal(json_string_value(json_object_get(v, "decision")), "denied");
        assert_string_equal(json_string_value(json_object_get(v, "app")), "com.example.app");
        json_decref(v);
        lines++;
    }
    fclose(f);
    assert_true(lines > 0);
    cs_policy_free(&p);
}

static void show_marks_overridden_values(void **state)
{
    (void)state;
    policy_case c = {
        .files = {{"recommended/a.json", "{\"defaults\": {\"remote_debugging\": true}}"},
                  {"managed/a.json", "{\"defaults\": {\"remote_debugging\": false}}"}}};
    cs_policy p;
    load(&c, &p);
    json_t *shown = cs_policy_show(&p);
    json_t *settings = json_object_get(shown, "settings");
    assert_int_equal(json_array_size(settings), 2);
    size_t i;
    json_t *s;
    int overridden = 0;
    json_array_foreach(settings, i, s)
    {
        const char *level = json_string_value(json_object_get(s, "level"));
        if (json_object_get(s, "overridden_by")) {
            assert_string_equal(level, "recommended");
            overridden++;
        }
    }
    assert_int_equal(overridden, 1);
    json_decref(shown);
    cs_policy_free(&p);

    /* On a tie the lower limit wins, whatever the file order. */
    policy_case limits = {
        .files = {{"managed/a.json", "{\"defaults\": {\"limits\": {\"memory_mb\": 900}}}"},
                  {"managed/b.json", "{\"defaults\": {\"limits\": {\"memory_mb\": 1000}}}"}}};
    load(&limits, &p);
    shown = cs_policy_show(&p);
    json_array_foreach(json_object_get(shown, "settings"), i, s)
    {
        const char *file = json_string_value(json_object_get(s, "file"));
        if (strstr(file, "a.json"))
            assert_null(json_object_get(s, "overridden_by"));
        else
            assert_non_null(json_object_get(s, "overridden_by"));
    }
    json_decref(shown);
    cs_policy_free(&p);
}

static int cleanup(void **state)
{
    (void)state;
    if (root[0]) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decisions_follow_the_table),
        cmocka_unit_test(unknown_keys_name_the_file_and_nearest_key),
        cmocka_unit_test(broken_json_names_the_line),
        cmocka_unit_test(files_at_the_top_of_the_folder_are_reported),
        cmocka_unit_test(unsafe_ownership_is_ignored_as_root),
        cmocka_unit_test(too_many_files_fail_closed),
        cmocka_unit_test(every_error_is_listed_with_its_value),
        cmocka_unit_test(limits_take_the_lower_value_on_a_tie),
        cmocka_unit_test(update_settings_merge),
        cmocka_unit_test(plain_http_needs_allow_http),
        cmocka_unit_test(audit_log_records_and_rotates),
        cmocka_unit_test(show_marks_overridden_values),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
