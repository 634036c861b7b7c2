/* Run a command once with its standard output and error on pipes, and print
 * when each of its lines arrived and when it exited, in milliseconds since
 * just before fork(). bench/startup uses it. With --sample-memory it also
 * reads the memory figures of the command's process tree from /proc when the
 * first line of standard output arrives. The command must still run then, so
 * the script's memory probe app waits after it prints.
 *
 * Usage: startup_timeline [--sample-memory] -- COMMAND [ARGS...]
 *
 * Output, one record per line, fields separated by tabs:
 *   start   CLOCK_MONOTONIC seconds at t = 0 (to convert absolute stamps)
 *   line    ms  out|err  TEXT     (a line of the command, without its newline)
 *   proc    PID  PPID  NAME  VmHWM_kB  VmRSS_kB  Pss_kB  RssAnon_kB  RssFile_kB
 *   cgroup  PID  PATH  max_usage_bytes  usage_bytes   (cgroup v1 memory only)
 *   exit    ms  STATUS  ru_maxrss_kB
 * A figure that cannot be read is printed as -1. STATUS is the exit status,
 * or 128 + N when signal N ended the command. ru_maxrss is what wait4()
 * reports: the largest peak RSS of the command and of the descendants that
 * were waited for, not their sum. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCESSES 4096
#define LINE_MAX_BYTES 8192

typedef struct stream {
    int fd;
    const char *name;
    char line[LINE_MAX_BYTES];
    size_t used;
} stream;

static struct timespec start_time;

static double elapsed_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start_time.tv_sec) * 1e3 +
           (double)(now.tv_nsec - start_time.tv_nsec) / 1e6;
}

/* Read a whole small file into buffer as a string. Returns false when the
 * file cannot be opened or read. */
static bool read_text(const char *path, char *buffer, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t used = 0;
    ssize_t n;
    while (used + 1 < size && (n = read(fd, buffer + used, size - 1 - used)) > 0)
        used += (size_t)n;
    close(fd);
    buffer[used] = '\0';
    return used > 0;
}

/* Return the value in kB of the field "key:" of a /proc status or
 * smaps_rollup text, or -1 when the field is absent. */
static long field_kb(const char *text, const char *key)
{
    size_t key_len = strlen(key);
    const char *line = text;
    while (line && *line) {
        if (strncmp(line, key, key_len) == 0 && line[key_len] == ':')
            return strtol(line + key_len + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

/* Read the parent pid and command name of pid from /proc/PID/stat. */
static bool read_stat(pid_t pid, pid_t *ppid, char *name, size_t name_size)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!read_text(path, text, sizeof(text)))
        return false;
    /* The name is in parentheses and may itself contain ") ". */
    char *open_paren = strchr(text, '(');
    char *close_paren = strrchr(text, ')');
    if (!open_paren || !close_paren || close_paren < open_paren)
        return false;
    snprintf(name, name_size, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
    int parent;
    if (sscanf(close_paren + 2, "%*c %d", &parent) != 1)
        return false;
    *ppid = (pid_t)parent;
    return true;
}

/* Print the memory-cgroup figures of pid when it is in a cgroup v1 memory
 * hierarchy mounted at /sys/fs/cgroup/memory. */
static void print_memory_cgroup(pid_t pid)
{
    char path[PATH_MAX], text[4096];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    if (!read_text(path, text, sizeof(text)))
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *controllers = strchr(line, ':');
        char *group = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!group || strncmp(controllers + 1, "memory:", 7) != 0)
            continue;
        group++;
        char max_usage[64] = "-1", usage[64] = "-1";
        snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.max_usage_in_bytes", group);
        read_text(path, max_usage, sizeof(max_usage));
        snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", group);
        read_text(path, usage, sizeof(usage));
        max_usage[strcspn(max_usage, "\n")] = '\0';
        usage[strcspn(usage, "\n")] = '\0';
        printf("cgroup\t%d\t%s\t%s\t%s\n", (int)pid, group, max_usage, usage);
    }
}

/* Print one "proc" record for every process in the tree below root
 * (root included), found by scanning the parent pids in /proc. */
static void print_process_tree(pid_t root)
{
    static pid_t pids[MAX_PROCESSES], parents[MAX_PROCESSES];
    static char names[MAX_PROCESSES][64];
    size_t count = 0;

    DIR *proc = opendir("/proc");
    if (!proc) {
        perror("startup_timeline: cannot open /proc");
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL && count < MAX_PROCESSES) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        if (read_stat((pid_t)pid, &parents[count], names[count], sizeof(names[count])))
            pids[count++] = (pid_t)pid;
    }
    closedir(proc);

    /* Walk breadth-first from root, so tree[] lists root and then the
     * children of each member in turn. */
    pid_t tree[MAX_PROCESSES];
    size_t tree_size = 0;
    tree[tree_size++] = root;
    for (size_t next = 0; next < tree_size; next++) {
        for (size_t i = 0; i < count && tree_size < MAX_PROCESSES; i++) {
            if (parents[i] == tree[next])
                tree[tree_size++] = pids[i];
        }
    }

    for (size_t t = 0; t < tree_size; t++) {
        pid_t pid = tree[t];
        size_t i = 0;
        while (i < count && pids[i] != pid)
            i++;
        if (i == count)
            continue;
        char path[64], status[8192], rollup[8192];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if (!read_text(path, status, sizeof(status)))
            continue;
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
        bool have_rollup = read_text(path, rollup, sizeof(rollup));
        printf("proc\t%d\t%d\t%s\t%ld\t%ld\t%ld\t%ld\t%ld\n", (int)pid, (int)parents[i], names[i],
               field_kb(status, "VmHWM"), field_kb(status, "VmRSS"),
               have_rollup ? field_kb(rollup, "Pss") : -1L, field_kb(status, "RssAnon"),
               field_kb(status, "RssFile"));
    }
    /* Every contender of bench/startup is a single chain of processes, so
     * the last one found is the app itself. */
    if (tree_size > 0)
        print_memory_cgroup(tree[tree_size - 1]);
}

/* Read what is available on input and print each complete line. Returns
 * false at end of file. */
static bool drain(stream *input, bool *first_out_line)
{
    char chunk[4096];
    ssize_t n = read(input->fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    double ms = elapsed_ms();
    if (n <= 0) {
        if (input->used > 0)
            printf("line\t%.3f\t%s\t%.*s\n", ms, input->name, (int)input->used, input->line);
        input->used = 0;
        return false;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (chunk[i] == '\n' || input->used == sizeof(input->line)) {
            printf("line\t%.3f\t%s\t%.*s\n", ms, input->name, (int)input->used, input->line);
            input->used = 0;
            if (strcmp(input->name, "out") == 0)
                *first_out_line = true;
            if (chunk[i] == '\n')
                continue;
        }
        input->line[input->used++] = chunk[i];
    }
    return true;
}

int main(int argc, char **argv)
{
    bool sample_memory = false;
    int first = 1;
    for (; first < argc && strcmp(argv[first], "--") != 0; first++) {
        if (strcmp(argv[first], "--sample-memory") == 0) {
            sample_memory = true;
        } else {
            fprintf(stderr, "startup_timeline: unknown option '%s'\n", argv[first]);
            return 2;
        }
    }
    if (first + 1 >= argc) {
        fprintf(stderr, "usage: startup_timeline [--sample-memory] -- COMMAND [ARGS...]\n");
        return 2;
    }
    char **command = argv + first + 1;

    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
        perror("startup_timeline: pipe2 failed");
        return 1;
    }
    fflush(stdout);

    clock_gettime(CLOCK_MONOTONIC, &start_time);
    pid_t child = fork();
    if (child < 0) {
        perror("startup_timeline: fork failed");
        return 1;
    }
    if (child == 0) {
        if (dup2(out_pipe[1], STDOUT_FILENO) < 0 || dup2(err_pipe[1], STDERR_FILENO) < 0)
            _exit(127);
        execvp(command[0], command);
        dprintf(err_pipe[1], "startup_timeline: cannot run %s: %s\n", command[0], strerror(errno));
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    printf("start\t%ld.%09ld\n", (long)start_time.tv_sec, start_time.tv_nsec);

    stream streams[2] = {{.fd = out_pipe[0], .name = "out"}, {.fd = err_pipe[0], .name = "err"}};
    bool open_streams[2] = {true, true};
    bool first_out_line = false, sampled = false;
    while (open_streams[0] || open_streams[1]) {
        struct pollfd fds[2];
        for (int i = 0; i < 2; i++)
            fds[i] = (struct pollfd){.fd = open_streams[i] ? streams[i].fd : -1, .events = POLLIN};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("startup_timeline: poll failed");
            return 1;
        }
        for (int i = 0; i < 2; i++) {
            if (open_streams[i] && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                open_streams[i] = drain(&streams[i], &first_out_line);
        }
        if (sample_memory && first_out_line && !sampled) {
            print_process_tree(child);
            sampled = true;
        }
    }

    int status;
    struct rusage usage;
    while (wait4(child, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("startup_timeline: wait4 failed");
            return 1;
        }
    }
    double ms = elapsed_ms();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("exit\t%.3f\t%d\t%ld\n", ms, code, usage.ru_maxrss);
    return 0;
}
