/* Writing a fuzz input to a file, for parsers that read from a path. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write data to /tmp/cs-fuzz-<pid>/<name> and return that path, or NULL when
 * the file cannot be written. The path stays the same for the whole run. */
static inline const char *fuzz_input_file(const uint8_t *data, size_t size, const char *name)
{
    static char path[128];
    if (!path[0]) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/tmp/cs-fuzz-%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    fwrite(data, 1, size, f);
    fclose(f);
    return path;
}
