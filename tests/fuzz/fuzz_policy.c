/* Fuzz target for the policy file parser and the decisions made from it. */
#include "input_file.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size, "policy.json");
    if (!path)
        return 0;

    cs_policy policy;
    cs_error err = {0};
    if (cs_policy_load(&policy, path, false, &err) < 0)
        return 0;
    cs_policy_subject subject = {
        .app_id = "com.example.app",
        .version = "1.2.3",
        .publisher_key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        .home = "/home/user",
        .app_data = "/var/lib/cashstory/data/com.example.app",
    };
    cs_policy_decision d;
    cs_sandbox_limits limits;
    cs_policy_update update;
    cs_policy_repository repos[4];
    cs_policy_may_run(&policy, &subject, true, &d);
    cs_policy_fs(&policy, &subject, "/srv/shared/data", true, &d);
    cs_policy_fs(&policy, &subject, "~/Documents", false, &d);
    cs_policy_bus(&policy, &subject, "publish", "quotes/*", &d);
    cs_policy_bus(&policy, &subject, "subscribe", "a/b/c", &d);
    cs_policy_net(&policy, &subject, "*.example.com:8443", &d);
    cs_policy_flag(&policy, &subject, "remote_debugging", &d);
    cs_policy_limits(&policy, &subject, &limits);
    cs_policy_update_settings(&policy, "com.example.app", NULL, &update);
    cs_policy_repositories(&policy, repos, 4);
    json_decref(cs_policy_show(&policy));
    cs_policy_free(&policy);
    return 0;
}
