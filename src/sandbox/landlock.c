/* Landlock rules that match the sandbox's mounts: a second fence that still
 * holds if a mount were wrong. */
#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Access rights and fields of newer Landlock ABI versions than the Debian 12
 * kernel headers describe (values from the kernel's uapi/linux/landlock.h). */
#define ACCESS_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define ACCESS_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define ACCESS_NET_CONNECT_TCP (1ULL << 1)
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define SCOPE_SIGNAL (1ULL << 1)

struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

#define READ_ACCESS (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define WRITE_ACCESS                                                                               \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                               \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |  \
     LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
     LANDLOCK_ACCESS_FS_REFER | ACCESS_FS_TRUNCATE)

static int add_rule(int ruleset, const char *path, uint64_t access, uint64_t handled, cs_error *err)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return cs_error_errno(err, errno, "Landlock: cannot open %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
                  LANDLOCK_ACCESS_FS_WRITE_FILE | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV;
    struct landlock_path_beneath_attr rule = {
        .allowed_access = access & handled,
        .parent_fd = fd,
    };
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int saved = errno;
    close(fd);
    if (rc < 0)
        return cs_error_errno(err, saved, "Landlock: cannot add the rule for %s", path);
    return 0;
}

int cs_sandbox_setup_landlock(const cs_sandbox_config *config, bool verbose, cs_error *err)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        /* Landlock is a second fence; the mounts remain the first one. */
        fprintf(stderr,
                "cashstory sandbox %s: warning: Landlock is not available (%s); the file system "
                "is limited by the mount namespace alone. Enable it with the kernel option "
                "lsm=landlock,...\n",
                config->app_id, strerror(errno));
        return 0;
    }

    struct ruleset_attr attr = {0};
    size_t attr_size = sizeof(attr.handled_access_fs);
    attr.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE | READ_ACCESS | WRITE_ACCESS |
                             LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK;
    if (abi < 2)
        attr.handled_access_fs &= ~(uint64_t)LANDLOCK_ACCESS_FS_REFER;
    if (abi < 3)
        attr.handled_access_fs &= ~ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        attr.handled_access_fs |= ACCESS_FS_IOCTL_DEV;
    if (abi >= 4) {
        /* No TCP at all: network access will go through a broker. */
        attr.handled_access_net = ACCESS_NET_BIND_TCP | ACCESS_NET_CONNECT_TCP;
        attr_size = offsetof(struct ruleset_attr, scoped);
    }
    if (abi >= 6) {
        /* No signals to, and no abstract sockets of, processes outside. */
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
        attr_size = sizeof(attr);
    }
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (ruleset < 0)
        return cs_error_errno(err, errno, "Landlock: cannot create the ruleset (ABI %ld)", abi);

    uint64_t handled = attr.handled_access_fs;
    uint64_t exec_read = LANDLOCK_ACCESS_FS_EXECUTE | READ_ACCESS;
    int rc = 0;
    static const char *const system_paths[] = {"/usr",   "/bin",    "/sbin", "/lib", "/lib32",
                                               "/lib64", "/libx32", "/etc",  NULL};
    for (const char *const *p = system_paths; rc == 0 && *p; p++)
        rc = add_rule(ruleset, *p, exec_read, handled, err);
    if (rc == 0)
        rc = add_rule(ruleset, CS_SANDBOX_RUNTIME_DIR, exec_read, handled, err);
    if (rc == 0)
        rc = add_rule(ruleset, CS_SANDBOX_APP_DIR, READ_ACCESS, handled, err);
    if (rc == 0)
        rc = add_rule(ruleset, CS_SANDBOX_DATA_DIR, READ_ACCESS | WRITE_ACCESS, handled, err);
    if (rc == 0)
        rc = add_rule(ruleset, "/tmp", READ_ACCESS | WRITE_ACCESS, handled, err);
    if (rc == 0)
        rc = add_rule(ruleset, "/proc", READ_ACCESS, handled, err);
    if (rc == 0)
        rc = add_rule(ruleset, "/dev",
                      READ_ACCESS | LANDLOCK_ACCESS_FS_WRITE_FILE | ACCESS_FS_IOCTL_DEV, handled,
                      err);
    for (size_t i = 0; rc == 0 && i < config->ngrants; i++)
        rc = add_rule(ruleset, config->grants[i].path,
                      READ_ACCESS | (config->grants[i].writable ? WRITE_ACCESS : 0), handled, err);
    if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
        rc = cs_error_errno(err, errno, "Landlock: cannot restrict the sandbox");
    close(ruleset);
    if (rc == 0 && verbose)
        fprintf(stderr, "cashstory sandbox %s: Landlock ABI %ld rules applied%s%s\n",
                config->app_id, abi, abi >= 4 ? ", TCP denied" : "",
                abi >= 6 ? ", signals and abstract sockets scoped" : "");
    return rc;
}
