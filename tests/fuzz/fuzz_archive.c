/* Fuzz target for the package archive reader: the tar entry checks, then the
 * whole verification path for an archive in memory. The seeds that
 * tests/fuzz/run.sh makes are real signed packages. Mutations that keep the
 * metadata intact reach the file checks, because an untrusted signer is
 * reported and the files are still compared with the index. */
#include "package/archive.h"
#include "package/verify.h"

#include <stdint.h>
#include <stdlib.h>

static void read_entries(const uint8_t *data, size_t size)
{
    cs_archive_reader *reader = NULL;
    cs_error err = {0};
    if (cs_archive_open_memory(data, size, &reader, &err) < 0)
        return;
    cs_archive_entry entry;
    uint8_t buf[4096];
    while (cs_archive_next(reader, &entry, &err) > 0) {
        ssize_t n;
        while ((n = cs_archive_read(reader, buf, sizeof(buf), &err)) > 0)
            ;
        if (n < 0)
            break;
    }
    cs_archive_close(reader);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_entries(data, size);

    cs_trust trust;
    cs_trust_init(&trust);
    cs_verify_result result;
    cs_error err = {0};
    cs_verify_archive_memory(data, size, &trust, &result, &err);
    cs_verify_result_free(&result);
    cs_trust_free(&trust);
    return 0;
}
