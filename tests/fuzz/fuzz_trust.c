/* Fuzz target for the trust configuration parser. */
#include "crypto/trust.h"
#include "input_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size, "trust.json");
    if (!path)
        return 0;

    cs_trust trust;
    cs_trust_init(&trust);
    cs_error err = {0};
    cs_trust_load_file(&trust, path, false, &err);
    cs_trust_free(&trust);
    return 0;
}
