/* Fuzz target for the manifest parser. */
#include "package/manifest.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_manifest manifest;
    cs_error err = {0};
    if (cs_manifest_parse(data, size, &manifest, &err) == 0)
        cs_manifest_free(&manifest);
    return 0;
}
