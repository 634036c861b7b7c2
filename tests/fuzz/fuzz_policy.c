/* Fuzz target for the policy file parser. */
#include "policy/policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/cs-fuzz-policy-%d/policy.json", (int)getpid());
        char dir[64];
        snprintf(dir, sizeof(dir), "/tmp/cs-fuzz-policy-%d", (int)getpid());
        mkdir(dir, 0700);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);

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
