/* A native program that runs inside the sandbox in place of the app host and
 * tries to break out. Each argument after "--" names one attempt; the program
 * prints "PASS name: detail" when the sandbox stopped the attempt (or, for
 * the "can_" checks, when an allowed action worked) and "FAIL name: detail"
 * otherwise, and exits 1 when anything failed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void result(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void result(int ok, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s %s: ", ok ? "PASS" : "FAIL", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!ok)
        failures++;
}

/* The attempt must fail: open for reading. */
static void no_read(const char *name, const char *path)
{
    int fd = open(path, O_RDONLY);
    result(fd < 0, name, "open(%s) -> %s", path, fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0)
        close(fd);
}

static void no_write(const char *name, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    result(fd < 0, name, "create(%s) -> %s", path, fd < 0 ? strerror(errno) : "created");
    if (fd >= 0)
        close(fd);
}

static long status_field(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long value = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            value = strtol(line + n + 1, NULL, strncmp(field, "Cap", 3) == 0 ? 16 : 10);
    }
    if (f)
        fclose(f);
    return value;
}

static void check(const char *name, const char *arg)
{
    if (strcmp(name, "shadow") == 0) {
        no_read(name, "/etc/shadow");
    } else if (strcmp(name, "home") == 0) {
        DIR *d = opendir(arg);
        result(d == NULL, name, "opendir(%s) -> %s", arg, d ? "listed" : strerror(errno));
        if (d)
            closedir(d);
    } else if (strcmp(name, "hidden") == 0) {
        struct stat;
        int ok = access(arg, F_OK) < 0;
        result(ok, name, "access(%s) -> %s", arg, ok ? strerror(errno) : "exists");
    } else if (strcmp(name, "write_app") == 0) {
        no_write(name, "/app/injected.js");
    } else if (strcmp(name, "write_usr") == 0) {
        no_write(name, "/usr/injected");
    } else if (strcmp(name, "write_root") == 0) {
        no_write(name, "/injected");
    } else if (strcmp(name, "can_write_data") == 0) {
        int fd = open("/data/probe.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        result(fd >= 0, name, "create(/data/probe.txt) -> %s", fd >= 0 ? "ok" : strerror(errno));
        if (fd >= 0)
            close(fd);
    } else if (strcmp(name, "can_write_tmp") == 0) {
        int fd = open("/tmp/probe.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        result(fd >= 0, name, "create(/tmp/probe.txt) -> %s", fd >= 0 ? "ok" : strerror(errno));
        if (fd >= 0)
            close(fd);
    } else if (strcmp(name, "proc") == 0) {
        DIR *d = opendir("/proc");
        int pids = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
                pids++;
        if (d)
            closedir(d);
        result(d && pids <= 3, name, "%d processes visible in /proc", pids);
    } else if (strcmp(name, "ptrace") == 0) {
        long rc = ptrace(PTRACE_ATTACH, 1, 0, 0);
        result(rc < 0, name, "ptrace(ATTACH, 1) -> %s", rc < 0 ? strerror(errno) : "attached");
    } else if (strcmp(name, "mount") == 0) {
        int rc = mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
        result(rc < 0, name, "mount(tmpfs) -> %s", rc < 0 ? strerror(errno) : "mounted");
    } else if (strcmp(name, "inet") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        result(fd < 0, name, "socket(AF_INET) -> %s", fd < 0 ? strerror(errno) : "created");
    } else if (strcmp(name, "packet") == 0) {
        int fd = socket(AF_PACKET, SOCK_RAW, 0);
        result(fd < 0, name, "socket(AF_PACKET) -> %s", fd < 0 ? strerror(errno) : "created");
    } else if (strcmp(name, "can_unix") == 0) {
        int sv[2];
        int rc = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
        result(rc == 0, name, "socketpair(AF_UNIX) -> %s", rc == 0 ? "ok" : strerror(errno));
    } else if (strcmp(name, "userns") == 0) {
        int rc = unshare(CLONE_NEWUSER);
        result(rc < 0, name, "unshare(CLONE_NEWUSER) -> %s", rc < 0 ? strerror(errno) : "created");
    } else if (strcmp(name, "clone_userns") == 0) {
        long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (rc == 0)
            _exit(0);
        result(rc < 0, name, "clone(CLONE_NEWUSER) -> %s", rc < 0 ? strerror(errno) : "created");
    } else if (strcmp(name, "clone3_enosys") == 0) {
        long rc = syscall(SYS_clone3, NULL, 0);
        result(rc < 0 && errno == ENOSYS, name, "clone3 -> %s", strerror(errno));
    } else if (strcmp(name, "unknown_enosys") == 0) {
        long rc = syscall(1000, 0, 0);
        result(rc < 0 && errno == ENOSYS, name, "syscall 1000 -> %s", strerror(errno));
    } else if (strcmp(name, "can_fork") == 0) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(7);
        int ws = 0;
        waitpid(pid, &ws, 0);
        result(pid > 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 7, name, "fork -> %d", (int)pid);
    } else if (strcmp(name, "identity") == 0) {
        long cap_eff = status_field("CapEff"), cap_bnd = status_field("CapBnd");
        long nnp = status_field("NoNewPrivs"), seccomp = status_field("Seccomp");
        result(getuid() == 1000 && geteuid() == 1000 && cap_eff == 0 && cap_bnd == 0 && nnp == 1 &&
                   seccomp == 2,
               name, "uid %d euid %d CapEff %lx CapBnd %lx NoNewPrivs %ld Seccomp %ld",
               (int)getuid(), (int)geteuid(), cap_eff, cap_bnd, nnp, seccomp);
    } else if (strcmp(name, "signal_host") == 0) {
        int pid = atoi(arg);
        int rc = kill(pid, 0);
        result(rc < 0, name, "kill(%d, 0) -> %s", pid, rc < 0 ? strerror(errno) : "reachable");
    } else if (strcmp(name, "memory") == 0) {
        /* Touch memory until something stops us; reaching the end is a failure. */
        size_t mb = (size_t)atol(arg);
        for (size_t i = 0; i < mb; i++) {
            char *p = malloc(1024 * 1024);
            if (!p) {
                result(1, name, "allocation failed after %zu MiB", i);
                return;
            }
            memset(p, 1, 1024 * 1024);
        }
        result(0, name, "allocated %zu MiB", mb);
    } else if (strcmp(name, "forkbomb") == 0) {
        int started = 0;
        pid_t children[4096];
        for (int i = 0; i < atoi(arg) && i < 4096; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                pause();
                _exit(0);
            }
            if (pid < 0)
                break;
            children[started++] = pid;
        }
        result(started < atoi(arg), name, "%d of %s processes started", started, arg);
        for (int i = 0; i < started; i++) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
        }
    } else if (strcmp(name, "sleep") == 0) {
        sleep((unsigned)atoi(arg));
        result(1, name, "slept %s s", arg);
    } else if (strcmp(name, "exit") == 0) {
        exit(atoi(arg));
    } else {
        result(0, name, "unknown check");
    }
}

int main(int argc, char **argv)
{
    int i = 1;
    while (i < argc && strcmp(argv[i], "--") != 0)
        i++;
    for (i++; i < argc; i++) {
        char name[64];
        const char *colon = strchr(argv[i], ':');
        snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - argv[i]) : 63, argv[i]);
        check(name, colon ? colon + 1 : "");
    }
    return failures ? 1 : 0;
}
