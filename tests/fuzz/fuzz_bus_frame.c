/* Fuzz target for the bus frame decoder and the stream reader, fed in
 * chunks whose sizes come from the input itself. */
#include "bus/frame.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_bus_frame frame;
    cs_error err = {0};
    cs_bus_frame_decode(data, size, &frame, &err);

    cs_bus_reader reader;
    cs_bus_reader_init(&reader);
    size_t pos = 0;
    while (pos < size) {
        size_t chunk = 1 + data[pos] % 64;
        if (chunk > size - pos)
            chunk = size - pos;
        if (cs_bus_reader_feed(&reader, data + pos, chunk, &err) < 0)
            break;
        pos += chunk;
        uint8_t *frame_data;
        int rc;
        while ((rc = cs_bus_reader_next(&reader, &frame_data, &frame, &err)) == 1) {
            uint8_t *again;
            size_t len;
            if (cs_bus_frame_encode(&frame, &again, &len, &err) == 0)
                free(again);
            free(frame_data);
        }
        if (rc < 0)
            break;
    }
    cs_bus_reader_free(&reader);
    return 0;
}
