/* Fuzz target for the policy file parser. */
#include "input_file.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size, "policy.json");
    if (!path)
        return 0;

    cs_policy policy;
    cs_error err = {0};
    if (cs_policy_load(&policy, path, false, &err) == 0) {
        cs_sandbox_limits limits;
        cs_policy_limits(&policy, "com.example.app", &limits);
        cs_policy_developer_mode(&policy);
        cs_policy_free(&policy);
    }
    return 0;
}
