/* Dropping privileges and closing descriptors before the app host starts. */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int cs_sandbox_drop_privileges(cs_error *err)
{
    /* The bounding set first: dropping from it needs CAP_SETPCAP, which the
     * last step below removes. */
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return cs_error_errno(err, errno, "cannot drop capability %d from the bounding set",
                                  cap);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return cs_error_errno(err, errno, "cannot clear the ambient capabilities");
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return cs_error_errno(err, errno, "cannot clear keep-capabilities");

    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &header, data) < 0)
        return cs_error_errno(err, errno, "cannot drop the capabilities");

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return cs_error_errno(err, errno, "cannot set no_new_privs");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return cs_error_errno(err, errno, "cannot clear the dumpable flag");
    return 0;
}

int cs_sandbox_bring_up_loopback(cs_error *err)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot open a socket to configure loopback");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int rc = 0;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        rc = cs_error_errno(err, errno, "cannot read the loopback interface flags");
    } else {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            rc = cs_error_errno(err, errno, "cannot bring up the loopback interface");
    }
    close(fd);
    return rc;
}

static bool kept(int fd, const int *keep, size_t nkeep)
{
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] == fd)
            return true;
    return fd <= 2;
}

int cs_sandbox_close_fds(const int *keep, size_t nkeep, cs_error *err)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return cs_error_errno(err, errno, "cannot list the open descriptors");
    int self = dirfd(d);
    int fds[1024];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 1024) {
        if (de->d_name[0] == '.')
            continue;
        int fd = atoi(de->d_name);
        if (fd != self && !kept(fd, keep, nkeep))
            fds[n++] = fd;
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    for (size_t i = 0; i < nkeep; i++) {
        int flags = fcntl(keep[i], F_GETFD);
        if (flags >= 0)
            fcntl(keep[i], F_SETFD, flags & ~FD_CLOEXEC);
    }
    return 0;
}
