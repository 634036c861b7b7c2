#include "app/options.h"

#include "common/hex.h"

#include <stdlib.h>
#include <string.h>

void cs_app_options_usage(FILE *out)
{
    fprintf(out, "Usage: cashstory-app --app DIR --index-sha256 HEX [OPTIONS] [-- ARGS...]\n"
                 "       cashstory-app --app DIR --dev [OPTIONS] [-- ARGS...]\n\n"
                 "Runs the JavaScript of an installed CashStory app. Every file is checked\n"
                 "against the signed package index just before it is evaluated.\n\n"
                 "Options:\n"
                 "  --app DIR            the app folder: its files and .cashstory/index.json\n"
                 "  --index-sha256 HEX   SHA-256 of .cashstory/index.json (64 hex digits), as\n"
                 "                       verified by the launcher\n"
                 "  --dev                developer mode: run an unsigned folder without checks\n"
                 "  --data DIR           the app's data folder (read-write)\n"
                 "  --grant PATH:ro|rw   also allow reading (ro) or reading and writing (rw)\n"
                 "                       the absolute PATH; repeatable\n"
                 "  --log FILE           also append console output to FILE as JSON lines\n"
                 "  --bus-fd N           file descriptor N is a connected Unix stream socket to\n"
                 "                       the bus broker (given by the daemon); it backs\n"
                 "                       cashstory.bus\n"
                 "  --help, --version\n\n"
                 "Arguments after '--' are in process.argv after the main script.\n"
                 "Exit status: the app's exit code; 1 for an uncaught error or a file that\n"
                 "failed verification; 2 for a usage error.\n");
}

static int parse_grant(const char *value, cs_app_grant *out, cs_error *err)
{
    const char *colon = strrchr(value, ':');
    if (!colon || colon == value)
        return cs_error_set(err, EINVAL, "--grant '%s': expected PATH:ro or PATH:rw", value);
    if (strcmp(colon + 1, "ro") == 0)
        out->writable = false;
    else if (strcmp(colon + 1, "rw") == 0)
        out->writable = true;
    else
        return cs_error_set(err, EINVAL, "--grant '%s': the access must be 'ro' or 'rw', not '%s'",
                            value, colon + 1);
    if (value[0] != '/')
        return cs_error_set(err, EINVAL, "--grant '%s': the path must be absolute", value);
    out->path = strndup(value, (size_t)(colon - value));
    if (!out->path)
        return cs_error_set(err, ENOMEM, "out of memory");
    return 0;
}

static int add_grant(cs_app_options *out, const char *value, cs_error *err)
{
    cs_app_grant grant;
    int rc = parse_grant(value, &grant, err);
    if (rc < 0)
        return rc;
    cs_app_grant *grants = realloc(out->grants, (out->ngrants + 1) * sizeof(*grants));
    if (!grants) {
        free((char *)grant.path);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    grants[out->ngrants++] = grant;
    out->grants = grants;
    return 0;
}

/* Option value for argv[*i]: the text after '=' in "--name=value", or the
 * next argument. */
/* Parse the value of --bus-fd, a decimal file descriptor number. The host
 * checks at start that it is an open, connected Unix stream socket. */
static int parse_fd(const char *value, int *out, cs_error *err)
{
    size_t digits = strspn(value, "0123456789");
    if (digits == 0 || value[digits] != '\0' || digits > 9)
        return cs_error_set(err, EINVAL,
                            "--bus-fd '%s': expected a file descriptor number (0 to 999999999)",
                            value);
    *out = atoi(value);
    return 0;
}

static int option_value(int argc, char **argv, int *i, const char *name, const char **value,
                        cs_error *err)
{
    size_t n = strlen(name);
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 0;
    }
    if (*i + 1 >= argc)
        return cs_error_set(err, EINVAL, "%s needs a value", name);
    *value = argv[++*i];
    return 0;
}

static bool option_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static int check_options(const cs_app_options *out, const char *index_hex, cs_error *err)
{
    if (!out->app_dir)
        return cs_error_set(err, EINVAL, "--app DIR is required");
    if (out->dev && index_hex)
        return cs_error_set(err, EINVAL, "--dev and --index-sha256 exclude each other");
    if (!out->dev && !index_hex)
        return cs_error_set(err, EINVAL,
                            "--index-sha256 HEX is required (or --dev for an unsigned folder)");
    return 0;
}

int cs_app_options_parse(int argc, char **argv, cs_app_options *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    out->bus_fd = -1;
    const char *index_hex = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        int rc = 0;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            out->help = true;
            return 0;
        } else if (strcmp(arg, "--version") == 0) {
            out->version = true;
            return 0;
        } else if (strcmp(arg, "--dev") == 0) {
            out->dev = true;
        } else if (option_is(arg, "--app")) {
            rc = option_value(argc, argv, &i, "--app", &out->app_dir, err);
        } else if (option_is(arg, "--index-sha256")) {
            rc = option_value(argc, argv, &i, "--index-sha256", &index_hex, err);
            if (rc == 0 && cs_hex_decode(index_hex, out->index_sha256, CS_SHA256_LEN) < 0)
                rc = cs_error_set(err, EINVAL, "--index-sha256 '%s' is not 64 lowercase hex digits",
                                  index_hex);
            out->have_index_sha256 = rc == 0;
        } else if (option_is(arg, "--data")) {
            rc = option_value(argc, argv, &i, "--data", &out->data_dir, err);
        } else if (option_is(arg, "--grant")) {
            rc = option_value(argc, argv, &i, "--grant", &value, err);
            if (rc == 0)
                rc = add_grant(out, value, err);
        } else if (option_is(arg, "--log")) {
            rc = option_value(argc, argv, &i, "--log", &out->log_file, err);
        } else if (option_is(arg, "--bus-fd")) {
            rc = option_value(argc, argv, &i, "--bus-fd", &value, err);
            if (rc == 0)
                rc = parse_fd(value, &out->bus_fd, err);
        } else {
            rc = cs_error_set(err, EINVAL,
                              "unknown option '%s'; put app arguments after '--', see --help", arg);
        }
        if (rc < 0) {
            cs_app_options_free(out);
            return rc;
        }
    }
    out->args = argv + i;
    out->nargs = (size_t)(argc - i);

    int rc = check_options(out, index_hex, err);
    if (rc < 0)
        cs_app_options_free(out);
    return rc;
}

void cs_app_options_free(cs_app_options *options)
{
    for (size_t i = 0; i < options->ngrants; i++)
        free((char *)options->grants[i].path);
    free(options->grants);
    options->grants = NULL;
    options->ngrants = 0;
}
