/* The command line of cashstory-app. src/app/README.md documents it. */
#pragma once

#include "common/error.h"
#include "crypto/digest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of the host itself; an app sets any other with exit(). */
enum {
    CS_APP_EXIT_OK = 0,
    CS_APP_EXIT_ERROR = 1,
    CS_APP_EXIT_USAGE = 2,
};

typedef struct cs_app_grant {
    const char *path; /* absolute, as given */
    bool writable;
} cs_app_grant;

typedef struct cs_app_options {
    const char *app_dir;
    bool dev;
    bool have_index_sha256;
    uint8_t index_sha256[CS_SHA256_LEN];
    const char *data_dir; /* NULL when not given */
    cs_app_grant *grants;
    size_t ngrants;
    const char *log_file; /* NULL when not given */
    int bus_fd;           /* --bus-fd: the socket to the broker, or -1 */
    char **args;          /* the arguments after "--" */
    size_t nargs;
    bool help;
    bool version;
} cs_app_options;

/* Parse argv. Strings point into argv. Returns 0, or -EINVAL with a message
 * that names the option (a usage error, exit status 2), or -ENOMEM. */
int cs_app_options_parse(int argc, char **argv, cs_app_options *out, cs_error *err);
void cs_app_options_free(cs_app_options *options);

/* Print the usage text. */
void cs_app_options_usage(FILE *out);
