/* cashstory-app: runs the JavaScript of one CashStory app. The launcher
 * (cashstory run) starts it inside the sandbox, and it also runs on its own.
 * docs/app-host.md documents the command line and the API of the app. */
#include "app/host.h"
#include "app/options.h"

#include <signal.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

/* True when the kernel started this process in secure mode (setuid, setgid
 * or file capabilities) or the real and effective ids differ. */
static bool privileged(void)
{
    return getauxval(AT_SECURE) != 0 || getuid() != geteuid() || getgid() != getegid();
}

int main(int argc, char **argv)
{
    if (privileged()) {
        fprintf(stderr, "cashstory-app: refusing to run as a setuid or setgid program; start it "
                        "as the user who runs the app\n");
        return CS_APP_EXIT_ERROR;
    }
    /* Output to a closed pipe fails with EPIPE instead of killing the host. */
    signal(SIGPIPE, SIG_IGN);

    cs_app_options options;
    cs_error err;
    if (cs_app_options_parse(argc, argv, &options, &err) < 0) {
        fprintf(stderr, "cashstory-app: %s\n", err.message);
        return CS_APP_EXIT_USAGE;
    }
    if (options.help) {
        cs_app_options_usage(stdout);
        return CS_APP_EXIT_OK;
    }
    if (options.version) {
        printf("cashstory-app %s\n", CS_VERSION);
        return CS_APP_EXIT_OK;
    }

    cs_app_host host;
    int status;
    if (cs_app_host_init(&host, &options, &err) < 0) {
        fprintf(stderr, "cashstory-app: %s\n", err.message);
        status = CS_APP_EXIT_ERROR;
    } else {
        status = cs_app_host_run(&host);
    }
    cs_app_host_free(&host);
    cs_app_options_free(&options);
    return status;
}
