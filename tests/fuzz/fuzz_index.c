/* Fuzz target for the package index parser, with a round trip through the
 * serializer for every index that parses. */
#include "package/index.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_index index;
    cs_error err = {0};
    if (cs_index_parse(data, size, &index, &err) != 0)
        return 0;
    char *text = cs_index_serialize(&index);
    if (text) {
        cs_index again;
        if (cs_index_parse(text, strlen(text), &again, &err) != 0)
            abort(); /* a serialized index must parse */
        cs_index_free(&again);
        free(text);
    }
    cs_index_free(&index);
    return 0;
}
