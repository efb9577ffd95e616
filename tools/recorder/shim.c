/*
 * dirtylab-shim.so — LD_PRELOAD'ed into a process whose writes dirtylab
 * records (adapted from the team's uffdwp_shim.c recipe).
 *
 * In every address space it is loaded into, it creates a userfaultfd with
 * UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED and puts it at
 * descriptor $UFFDWP_FD (default 1000; close-on-exec), so the recorder can
 * take it with pidfd_getfd() and register the process's memory from outside:
 * uffd ioctls act on the mm of the process that created the uffd. It also
 * disables transparent huge pages (PR_SET_THP_DISABLE, and madvise
 * MADV_HUGEPAGE becomes MADV_NOHUGEPAGE), so writes are seen per 4 KiB page.
 *
 * `dirtylab record --pid` (e.g. a QEMU guest): that is all; the recorder
 * finds the uffd at its descriptor.
 *
 * `dirtylab record -- COMMAND` ($DIRTYLAB_REC_SOCK set): the shim also talks
 * to the recorder (protocol.h) and waits for its answer —
 *  - at start (constructor) and in the child of fork() (a new address space
 *    with a fresh uffd): ATTACH, so the recorder registers all writable
 *    memory before the program writes to it; at start the answer carries
 *    the recorder's clock, exported as $DIRTYLAB_RECORD_EPOCH0_NS
 *    (CLOCK_MONOTONIC ns at the start of epoch 0) and
 *    $DIRTYLAB_RECORD_EPOCH_NS, so a workload can line up with epochs;
 *  - at exit(), _exit(), _Exit() and execve(): FLUSH, so writes since the
 *    last epoch boundary are scanned before the address space goes away;
 *  - mmap() of writable memory is registered and write-protected at once
 *    from inside the process, so writes to a mapping made between two epoch
 *    boundaries are seen exactly (mappings made by libc itself — malloc's
 *    brk and arenas — are found by the recorder at the next boundary).
 * If the recorder is gone the shim carries on silently.
 *
 * Everything the wrappers call is a raw system call (no dlsym, no malloc),
 * so they are safe in a fork child and during early start-up.
 * Build: cc -O2 -shared -fPIC -o dirtylab-shim.so shim.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include "uapi.h"
#include "protocol.h"

static char sock_name[100]; /* abstract socket name, empty = --pid mode */
static int uffd_target = DLREC_UFFD_DEFAULT_FD;
static int uffd_fd = -1;    /* where this address space's uffd lives */

static int is_userfaultfd(int fd) {
    char path[40], link[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) return 0;
    link[n] = 0;
    return strcmp(link, "anon_inode:[userfaultfd]") == 0;
}

/* A fresh WP_ASYNC uffd for the current address space, placed at uffd_target
 * (replacing an inherited uffd there) or, if the program uses that number,
 * at the first free descriptor above it. */
static void make_uffd(void) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == EPERM) fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) { uffd_fd = -1; return; }
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
    if (ioctl(fd, UFFDIO_API, &api)) { close(fd); uffd_fd = -1; return; }
    int at;
    if (fcntl(uffd_target, F_GETFD) < 0 || is_userfaultfd(uffd_target)) at = dup3(fd, uffd_target, O_CLOEXEC);
    else at = fcntl(fd, F_DUPFD_CLOEXEC, uffd_target);
    if (at < 0) { uffd_fd = fd; return; }
    close(fd);
    uffd_fd = at;
}

/* One request to the recorder; returns when it has answered (or is gone).
 * `ack` (may be NULL) receives the answer; ack->magic is 0 if there was none. */
static void talk(uint32_t kind, uint32_t why, struct dlrec_ack *ack) {
    struct dlrec_ack none = { 0, 0, -1, 0 };
    if (!ack) ack = &none;
    ack->magic = 0;
    if (!sock_name[0]) return;
    int saved = errno;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        size_t n = strlen(sock_name);
        memcpy(a.sun_path + 1, sock_name, n); /* abstract: leading NUL */
        if (connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == 0) {
            struct dlrec_msg m = { DLREC_MAGIC, kind, why, uffd_fd };
            if (send(s, &m, sizeof m, MSG_NOSIGNAL) == (ssize_t)sizeof m) {
                ssize_t n;
                while ((n = recv(s, ack, sizeof *ack, 0)) < 0 && errno == EINTR) ;
                if (n != (ssize_t)sizeof *ack) ack->magic = 0;
            }
        }
        close(s);
    }
    errno = saved;
}

static void after_fork_child(void) {
    make_uffd();
    talk(DLREC_ATTACH, DLREC_WHY_FORK, NULL);
}

__attribute__((constructor)) static void shim_init(void) {
    const char *e = getenv(DLREC_UFFD_ENV);
    if (e && *e) uffd_target = atoi(e);
    const char *s = getenv(DLREC_SOCK_ENV);
    if (s && strlen(s) < sizeof sock_name) strcpy(sock_name, s);
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    make_uffd();
    pthread_atfork(NULL, NULL, after_fork_child);
    struct dlrec_ack ack;
    talk(DLREC_ATTACH, DLREC_WHY_START, &ack);
    if (ack.magic == DLREC_MAGIC && ack.origin_mono_ns >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)ack.origin_mono_ns);
        setenv(DLREC_EPOCH0_ENV, v, 1);
        snprintf(v, sizeof v, "%lld", (long long)ack.epoch_ns);
        setenv(DLREC_EPOCH_ENV, v, 1);
    }
}

__attribute__((destructor)) static void shim_fini(void) {
    talk(DLREC_FLUSH, DLREC_WHY_EXIT, NULL);
}

void _exit(int status) {
    talk(DLREC_FLUSH, DLREC_WHY_EXIT, NULL);
    for (;;) syscall(SYS_exit_group, status);
}

void _Exit(int status) {
    _exit(status);
}

int execve(const char *path, char *const argv[], char *const envp[]) {
    talk(DLREC_FLUSH, DLREC_WHY_EXEC, NULL);
    return (int)syscall(SYS_execve, path, argv, envp);
}

/* Register and write-protect a new writable mapping right away (record mode). */
static void track_new(void *addr, size_t len, int prot, int flags) {
    if (!sock_name[0] || uffd_fd < 0 || addr == MAP_FAILED) return;
    if (!(prot & PROT_WRITE) || (flags & MAP_HUGETLB) || len == 0) return;
    uint64_t start = (uint64_t)(uintptr_t)addr;
    uint64_t end = (start + len + 4095) & ~4095ULL;
    int saved = errno;
    struct uffdio_register reg = { .range = { start, end - start }, .mode = UFFDIO_REGISTER_MODE_WP };
    if (ioctl(uffd_fd, UFFDIO_REGISTER, &reg) == 0) {
        struct uffdio_writeprotect wp = { .range = { start, end - start }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
        ioctl(uffd_fd, UFFDIO_WRITEPROTECT, &wp);
    }
    errno = saved;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    track_new(p, len, prot, flags);
    return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}

int madvise(void *addr, size_t len, int advice) {
    if (advice == MADV_HUGEPAGE) advice = MADV_NOHUGEPAGE;
    return (int)syscall(SYS_madvise, addr, len, advice);
}
