/* Fuzz target for the trust configuration parser. */
#include "crypto/trust.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/cs-fuzz-trust-%d/trust.json", (int)getpid());
        char dir[64];
        snprintf(dir, sizeof(dir), "/tmp/cs-fuzz-trust-%d", (int)getpid());
        mkdir(dir, 0700);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);

    cs_trust trust;
    cs_trust_init(&trust);
    cs_error err = {0};
    cs_trust_load_file(&trust, path, false, &err);
    cs_trust_free(&trust);
    return 0;
}
