#include "daemon/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int cs_control_default_path(char *out, size_t size)
{
    const char *env = getenv("CASHSTORY_SOCKET");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return 0;
    }
    if (geteuid() == 0) {
        snprintf(out, size, "/run/cashstory/control.sock");
        return 0;
    }
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (!runtime || !*runtime)
        return -ENOENT;
    snprintf(out, size, "%s/cashstory/control.sock", runtime);
    return 0;
}
