/*
 * dirtylab-recorder — records which pages a process tree (or one mapping of a
 * running process) writes in each epoch, with userfaultfd asynchronous
 * write-protect (UFFD_FEATURE_WP_ASYNC) and the PAGEMAP_SCAN ioctl (Linux >=
 * 6.7). Adapted from the team's dirtyrec.c recipe. `dirtylab record` runs it
 * and turns its output into a trace (src/trace/record/); it is not meant to
 * be run by hand.
 *
 *   dirtylab-recorder run    --epoch-ns N [--duration-ns D] --shim SO -- COMMAND...
 *   dirtylab-recorder attach --epoch-ns N [--duration-ns D] --pid P
 *                            --range HEXSTART:PAGES... [--zero-scan]
 *
 * How (see protocol.h and shim.c for the other side):
 *  - Every address space holds a WP_ASYNC uffd created by the LD_PRELOAD shim;
 *    the recorder takes it with pidfd_getfd() and calls UFFDIO_REGISTER
 *    (MODE_WP) on the process's writable mappings from here (uffd ioctls act
 *    on the mm that created the uffd).
 *  - A new mapping is write-protected by one PAGEMAP_SCAN with
 *    PM_SCAN_WP_MATCHING and an empty category mask: it reports every page's
 *    state and protects all of them (holes get uffd-wp markers) atomically.
 *  - At each epoch boundary, per process: re-read /proc/PID/maps (new heap,
 *    new mmaps, grown stack), then PAGEMAP_SCAN each registered writable
 *    mapping with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC and category
 *    PAGE_IS_WRITTEN: the pages written since the previous scan, re-armed in
 *    the same call. A mapping that fails CHECK_WPASYNC was replaced by an
 *    unregistered one and is taken as new.
 *  - Writes to a mapping before it was registered: pages of a private mapping
 *    that are present, anonymous (not page cache, not the zero page) and not
 *    all zeros were written, and count in the epoch the mapping appeared in
 *    (a zero page may only have been populated or read); for a shared
 *    mapping a present page may only have been read, so those are counted as
 *    unknown, not as written. Mappings registered by the shim's mmap() wrapper
 *    are exact.
 *  - Fork children and exec'd images attach themselves through the shim and
 *    wait until registered; exits and execs flush first. Processes of the
 *    tree without the shim (static or setuid binaries) are reported as
 *    untracked, with their writable pages: at once when a tracked process
 *    execs one, else found by walking /proc every 250 ms.
 *
 * Output, on --out-fd (default 3): JSON lines, one object each, "t" says what
 * (page numbers are virtual page numbers, address >> 12; times are ns of
 * CLOCK_MONOTONIC since the start of epoch 0):
 *   hello   version, page size, epoch, kernel, clock origins, uffd features
 *   proc    a process (address space) attached: id, pid, ppid, comm, exe, why
 *   gone    a process ended (exit/exec/vanished), and whether it flushed first
 *   map     a writable range registered: proc, s, n, perms, dev, ino, off, name,
 *           how (initial|new|shim|pid), pre (pages written before it was
 *           registered, reported in the next "w"), unk (present shared pages
 *           of unknown state)
 *   skip    a writable range that could not be registered, with errno
 *   w       written pages of one process: r = [vpage, count, vpage, count, ...]
 *           (belong to the epoch closed by the next "e")
 *   e       an epoch closed: t0, t1, the recorder's cost (workNs: the whole
 *           boundary — maps, registering new memory, scans, output; scanNs:
 *           the PAGEMAP_SCAN calls since the last boundary; eventNs: attaching
 *           and flushing processes in between), tracked pages, ranges, processes
 *   zero    --zero-scan: runs of pages holding zeros at the start
 *   untracked  a process of the tree the shim is not in
 *   end     why it stopped, the command's exit status, the recorder's CPU time
 *   error   a fatal error (then exit status 1)
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include "uapi.h"
#include "protocol.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define RECORDER_VERSION "1"
#define PG 4096ULL
#define VEC_LEN 4096

/* ------------------------------------------------------------ output */

static int out_fd = 3;
static int out_broken;
static char *obuf;
static size_t olen, ocap;

static void o_flush(void) {
    size_t done = 0;
    while (done < olen && !out_broken) {
        ssize_t n = write(out_fd, obuf + done, olen - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { out_broken = 1; break; }
        done += (size_t)n;
    }
    olen = 0;
}

static void o_raw(const char *s, size_t n) {
    if (olen + n > ocap) {
        size_t cap = ocap ? ocap : 1 << 16;
        while (cap < olen + n) cap *= 2;
        char *b = realloc(obuf, cap);
        if (!b) { o_flush(); if (n > ocap) return; }
        else { obuf = b; ocap = cap; }
    }
    memcpy(obuf + olen, s, n);
    olen += n;
}

static void o_str(const char *s) { o_raw(s, strlen(s)); }

static void o_u64(uint64_t v) {
    char b[24];
    int i = 24;
    do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    o_raw(b + i, (size_t)(24 - i));
}

static void o_i64(int64_t v) {
    if (v < 0) { o_raw("-", 1); o_u64((uint64_t)(-v)); }
    else o_u64((uint64_t)v);
}

/* A JSON string (bytes that are not printable ASCII are escaped as \u00XX,
 * so any path comes out as valid JSON). */
static void o_json(const char *s) {
    o_raw("\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; o_raw(e, 2); }
        else if (c < 0x20 || c >= 0x7f) { char e[8]; snprintf(e, sizeof e, "\\u%04x", c); o_raw(e, 6); }
        else o_raw((const char *)&c, 1);
    }
    o_raw("\"", 1);
}

/* "key": for the object being written. */
static void o_key(const char *k) { o_raw(",\"", 2); o_str(k); o_raw("\":", 2); }

static void o_end(void) {
    o_raw("}\n", 2);
    if (olen > (1 << 20)) o_flush();
}

static void fatal(const char *what, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o_str("{\"t\":\"error\"");
    o_key("what"); o_json(what);
    o_key("msg"); o_json(msg);
    o_end();
    o_flush();
    exit(1);
}

/* ------------------------------------------------------------ time */

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double real_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int64_t origin_ns = -1; /* CLOCK_MONOTONIC at the start of epoch 0 */

static int64_t rel_ns(void) { return origin_ns < 0 ? 0 : mono_ns() - origin_ns; }

/* ------------------------------------------------------------ runs of pages */

typedef struct { uint64_t *v; size_t n, cap; } runs_t; /* pairs: vpage, count */

static void runs_add(runs_t *r, uint64_t vpage, uint64_t count) {
    if (count == 0) return;
    if (r->n >= 2 && r->v[r->n - 2] + r->v[r->n - 1] == vpage) { r->v[r->n - 1] += count; return; }
    if (r->n + 2 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        uint64_t *v = realloc(r->v, cap * sizeof *v);
        if (!v) fatal("memory", "out of memory");
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = vpage;
    r->v[r->n++] = count;
}

static void o_runs(const runs_t *r) {
    o_raw("[", 1);
    for (size_t i = 0; i < r->n; i++) {
        if (i) o_raw(",", 1);
        o_u64(r->v[i]);
    }
    o_raw("]", 1);
}

/* ------------------------------------------------------------ registered ranges */

/* A registered (or skipped) range of one process, with the identity of the
 * mapping it was registered in, so a different mapping at the same address
 * is noticed. */
typedef struct {
    uint64_t s, e;   /* bytes */
    uint64_t ino;
    uint64_t off;    /* file offset of s (bytes); 0 for anonymous memory */
    char dev[12];
    int shared;
} range_t;

typedef struct { range_t *v; size_t n, cap; } rset;

static void rset_push(rset *r, range_t x) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        range_t *v = realloc(r->v, cap * sizeof *v);
        if (!v) fatal("memory", "out of memory");
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = x;
}

/* ------------------------------------------------------------ mappings */

typedef struct {
    uint64_t s, e, off, ino;
    char perms[5];
    char dev[12];
    const char *name;
} vma_t;

static char *mbuf;
static size_t mcap;
static vma_t *vmas;
static size_t vcap;

/* Read /proc/PID/maps through an open descriptor; returns the number of
 * mappings, 0 when the address space is gone, -1 on error. */
static long read_maps(int fd) {
    size_t len = 0;
    for (;;) {
        if (len + 65536 > mcap) {
            size_t cap = mcap ? mcap * 2 : 1 << 18;
            char *b = realloc(mbuf, cap);
            if (!b) fatal("memory", "out of memory");
            mbuf = b;
            mcap = cap;
        }
        ssize_t n = pread(fd, mbuf + len, mcap - len - 1, (off_t)len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        len += (size_t)n;
    }
    mbuf[len] = 0;
    size_t nv = 0;
    char *line = mbuf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (nv == vcap) {
            vcap = vcap ? vcap * 2 : 256;
            vma_t *v = realloc(vmas, vcap * sizeof *v);
            if (!v) fatal("memory", "out of memory");
            vmas = v;
        }
        vma_t *m = &vmas[nv];
        unsigned long long s, e, off, ino;
        int pos = 0;
        if (sscanf(line, "%llx-%llx %4s %llx %11s %llu %n", &s, &e, m->perms, &off, m->dev, &ino, &pos) >= 6) {
            m->s = s; m->e = e; m->off = off; m->ino = ino;
            m->name = pos ? line + pos : "";
            nv++;
        }
        line = nl ? nl + 1 : NULL;
    }
    return (long)nv;
}

/* ------------------------------------------------------------ processes */

typedef struct proc {
    int id;
    pid_t pid, ppid;
    int pidfd, uffd, pmfd, mapsfd;
    int alive;
    int fixed;        /* attach mode: only the given ranges, maps not re-read */
    int flushed_exit; /* flushed by the shim on its way out */
    rset reg;         /* registered ranges */
    rset skipped;     /* ranges that could not be registered */
    char comm[64];
    struct proc *next;
} proc_t;

static proc_t *procs;
static int next_proc_id;
static pid_t root_pid = -1;
static int root_pidfd = -1;
static int root_exited, root_status;

static long long tracked_pages, tracked_ranges;
static int64_t scan_ns_acc;  /* time in PAGEMAP_SCAN since the last boundary */
static int64_t event_ns_acc; /* time attaching and flushing processes since the last boundary */
static long long tracked_gone; /* pages of processes that exited during the epoch */

static proc_t *find_alive(pid_t pid) {
    for (proc_t *p = procs; p; p = p->next) if (p->alive && p->pid == pid) return p;
    return NULL;
}

static int ever_tracked(pid_t pid) {
    for (proc_t *p = procs; p; p = p->next) if (p->pid == pid) return 1;
    return 0;
}

static int alive_count(void) {
    int n = 0;
    for (proc_t *p = procs; p; p = p->next) n += p->alive;
    return n;
}

static void read_small(const char *path, char *buf, size_t cap) {
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) n = 0;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
}

/* The parent of a process, and its state letter (R, S, Z…) when `state` is given. */
static pid_t parent_state(pid_t pid, char *state) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    read_small(path, buf, sizeof buf);
    char *r = strrchr(buf, ')');
    if (!r) return -1;
    char st;
    int ppid;
    if (sscanf(r + 1, " %c %d", &st, &ppid) != 2) return -1;
    if (state) *state = st;
    return ppid;
}

static pid_t parent_of(pid_t pid) { return parent_state(pid, NULL); }

static int ever_tracked(pid_t pid);

/* ------------------------------------------------------------ PAGEMAP_SCAN */

static struct page_region vec[VEC_LEN];

typedef void (*region_cb)(void *ctx, const struct page_region *r);

/* One PAGEMAP_SCAN walk over [s, e), resumed at walk_end when vec fills up.
 * Returns 0 or -errno. */
static int pm_scan(int pmfd, uint64_t s, uint64_t e, uint64_t flags, uint64_t cat, uint64_t ret, region_cb cb, void *ctx) {
    uint64_t cur = s;
    while (cur < e) {
        struct pm_scan_arg a = {
            .size = sizeof a, .flags = flags, .start = cur, .end = e,
            .vec = (uint64_t)(uintptr_t)vec, .vec_len = VEC_LEN,
            .category_mask = cat, .return_mask = ret,
        };
        int64_t t0 = mono_ns();
        long n = ioctl(pmfd, PAGEMAP_SCAN, &a);
        scan_ns_acc += mono_ns() - t0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (long i = 0; i < n; i++) cb(ctx, &vec[i]);
        if (a.walk_end <= cur || a.walk_end >= e) break;
        cur = a.walk_end;
    }
    return 0;
}

static void add_written(void *ctx, const struct page_region *r) {
    runs_add((runs_t *)ctx, r->start / PG, (r->end - r->start) / PG);
}

typedef struct {
    runs_t *w;
    runs_t *maybe;   /* present private pages of a mapping registered late: written unless all zero */
    int attribute;   /* 0: initial registration, nothing counts as written */
    int registered;  /* was already registered (shim's mmap, a grown mapping) */
    int shared;
    uint64_t pre, unknown, present;
    runs_t *present_runs; /* attach mode: pages to read for the zero scan */
} newscan_t;

static void classify_new(void *ctx, const struct page_region *r) {
    newscan_t *c = ctx;
    uint64_t cat = r->categories, n = (r->end - r->start) / PG;
    if (c->present_runs && (cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED))) runs_add(c->present_runs, r->start / PG, n);
    if (cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)) c->present += n;
    if (!c->attribute || !(cat & PAGE_IS_WRITTEN) || !(cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED))) return;
    if (c->registered) {
        runs_add(c->w, r->start / PG, n);
        c->pre += n;
    } else if (!c->shared && !(cat & (PAGE_IS_FILE | PAGE_IS_PFNZERO))) {
        runs_add(c->maybe, r->start / PG, n);
    } else {
        c->unknown += n;
    }
}

static char rbuf[256 * PG];

/* Of the given pages of `pid`, add to `w` those that are not all zeros
 * (zero pages were only populated — MAP_POPULATE, a read on kernels without
 * the shared zero page — or written with zeros, which a migration sends as
 * zero pages anyway). Returns how many were added. */
static uint64_t add_nonzero(pid_t pid, const runs_t *cand, runs_t *w) {
    uint64_t added = 0;
    for (size_t i = 0; i < cand->n; i += 2) {
        for (uint64_t vp = cand->v[i], end = cand->v[i] + cand->v[i + 1]; vp < end;) {
            uint64_t n = end - vp < 256 ? end - vp : 256;
            struct iovec l = { rbuf, n * PG }, r = { (void *)(uintptr_t)(vp * PG), n * PG };
            ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);
            uint64_t pages = got > 0 ? (uint64_t)got / PG : 0;
            for (uint64_t k = 0; k < pages; k++) {
                const uint64_t *q = (const uint64_t *)(rbuf + k * PG);
                uint64_t acc = 0;
                for (size_t j = 0; j < PG / 8; j++) acc |= q[j];
                if (acc) { runs_add(w, vp + k, 1); added++; }
            }
            if (pages < n) { runs_add(w, vp + pages, n - pages); added += n - pages; pages = n; } /* unreadable: count as written */
            vp += pages;
        }
    }
    return added;
}

static void probe_wpallowed(void *ctx, const struct page_region *r) {
    uint64_t *cover = ctx; /* [0] = start, [1] = end of the WPALLOWED prefix */
    if ((r->categories & PAGE_IS_WPALLOWED) && r->start == cover[1]) cover[1] = r->end;
}

/* Whether all of [s, e) is already registered for async WP with our uffd. */
static int is_registered(proc_t *p, uint64_t s, uint64_t e) {
    uint64_t cover[2] = { s, s };
    if (pm_scan(p->pmfd, s, e, 0, 0, PAGE_IS_WPALLOWED, probe_wpallowed, cover) < 0) return 0;
    return cover[1] >= e;
}

static const char *how_names[] = { "initial", "new", "shim", "pid" };
enum { HOW_INITIAL, HOW_NEW, HOW_SHIM, HOW_PID };

static void emit_range(const char *type, proc_t *p, uint64_t s, uint64_t e, const vma_t *m) {
    o_str("{\"t\":"); o_json(type);
    o_key("proc"); o_i64(p->id);
    o_key("pid"); o_i64(p->pid);
    o_key("s"); o_u64(s / PG);
    o_key("n"); o_u64((e - s) / PG);
    o_key("perms"); o_json(m->perms);
    o_key("dev"); o_json(m->dev);
    o_key("ino"); o_u64(m->ino);
    o_key("off"); o_u64(m->ino ? (m->off + (s - m->s)) / PG : 0);
    o_key("name"); o_json(m->name);
}

/* Register a range not registered before and write-protect it. Returns 0, or
 * -errno when the kernel refuses to register it. */
static int register_range(proc_t *p, uint64_t s, uint64_t e, const vma_t *m, int mode, runs_t *w, runs_t *present_runs) {
    int already = is_registered(p, s, e);
    if (!already) {
        struct uffdio_register reg = { .range = { s, e - s }, .mode = UFFDIO_REGISTER_MODE_WP };
        if (ioctl(p->uffd, UFFDIO_REGISTER, &reg)) return -errno;
    }
    static runs_t maybe;
    maybe.n = 0;
    newscan_t c = { .w = w, .maybe = &maybe, .attribute = mode == HOW_NEW || mode == HOW_SHIM, .registered = already, .shared = m->perms[3] == 's', .present_runs = present_runs };
    /* Report every page's state and write-protect all of them, atomically. */
    int r = pm_scan(p->pmfd, s, e, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0,
                    PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_PFNZERO, classify_new, &c);
    if (r < 0) return r;
    /* wp-async registers any memory, but PAGEMAP_SCAN does not walk VM_PFNMAP
     * (device) mappings: those would be silently empty, so they are skipped */
    if (!is_registered(p, s, e)) {
        struct uffdio_range ur = { s, e - s };
        ioctl(p->uffd, UFFDIO_UNREGISTER, &ur);
        return -EOPNOTSUPP;
    }
    if (maybe.n) c.pre += add_nonzero(p->pid, &maybe, w);
    int how = mode == HOW_PID ? HOW_PID : mode == HOW_INITIAL ? HOW_INITIAL : already ? HOW_SHIM : HOW_NEW;
    emit_range("map", p, s, e, m);
    o_key("how"); o_json(how_names[how]);
    o_key("pre"); o_u64(c.pre);
    o_key("unk"); o_u64(c.unknown);
    o_key("present"); o_u64(c.present);
    o_key("tNs"); o_i64(rel_ns());
    o_end();
    return 0;
}

static int same_identity(const range_t *r, const vma_t *m, uint64_t at) {
    if (r->shared != (m->perms[3] == 's') || r->ino != m->ino || strcmp(r->dev, m->dev)) return 0;
    return m->ino == 0 || r->off + (at - r->s) == m->off + (at - m->s);
}

static range_t range_of(const vma_t *m, uint64_t s, uint64_t e) {
    range_t r = { .s = s, .e = e, .ino = m->ino, .off = m->ino ? m->off + (s - m->s) : 0, .shared = m->perms[3] == 's' };
    snprintf(r.dev, sizeof r.dev, "%s", m->dev);
    return r;
}

static int was_skipped(const proc_t *p, const vma_t *m, uint64_t s, uint64_t e) {
    for (size_t i = 0; i < p->skipped.n; i++) {
        const range_t *r = &p->skipped.v[i];
        if (r->s == s && r->e == e && same_identity(r, m, s)) return 1;
    }
    return 0;
}

static void emit_w(proc_t *p, runs_t *w) {
    if (w->n == 0) return;
    o_str("{\"t\":\"w\"");
    o_key("proc"); o_i64(p->id);
    o_key("r"); o_runs(w);
    o_end();
    w->n = 0;
}

static runs_t wbuf;

/* A piece of a writable mapping, and whether it was registered already. */
typedef struct { uint64_t s, e; int known; } piece_t;
static piece_t *pieces;
static size_t pcap;

static void piece_push(size_t *np, uint64_t s, uint64_t e, int known) {
    if (s >= e) return;
    if (*np == pcap) {
        pcap = pcap ? pcap * 2 : 64;
        piece_t *v = realloc(pieces, pcap * sizeof *v);
        if (!v) fatal("memory", "out of memory");
        pieces = v;
    }
    pieces[(*np)++] = (piece_t){ s, e, known };
}

/* Re-read a process's mappings, scan what is registered, register what is
 * new. mode: HOW_INITIAL (attach: nothing counts as written yet) or HOW_NEW.
 * Returns -1 when the address space is gone. */
static int sweep(proc_t *p, int mode) {
    if (p->fixed) {
        for (size_t i = 0; i < p->reg.n; i++) {
            int r = pm_scan(p->pmfd, p->reg.v[i].s, p->reg.v[i].e, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                            PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, add_written, &wbuf);
            if (r < 0) { wbuf.n = 0; return -1; }
            tracked_pages += (long long)((p->reg.v[i].e - p->reg.v[i].s) / PG);
            tracked_ranges++;
        }
        emit_w(p, &wbuf);
        return 0;
    }
    long nv = read_maps(p->mapsfd);
    if (nv <= 0) return -1;
    rset next = { 0 }, skipped = { 0 };
    for (long i = 0; i < nv; i++) {
        const vma_t *m = &vmas[i];
        if (m->perms[1] != 'w') {
            /* keep registrations of mappings made read-only for now */
            for (size_t j = 0; j < p->reg.n; j++) {
                range_t r = p->reg.v[j];
                uint64_t s = r.s > m->s ? r.s : m->s, e = r.e < m->e ? r.e : m->e;
                if (s < e && same_identity(&r, m, s)) rset_push(&next, range_of(m, s, e));
            }
            continue;
        }
        /* split [m->s, m->e) into pieces registered before and new ones */
        size_t np = 0;
        uint64_t cur = m->s;
        for (size_t j = 0; j < p->reg.n && cur < m->e; j++) {
            range_t *r = &p->reg.v[j];
            if (r->e <= cur || r->s >= m->e) continue;
            if (r->s > cur) piece_push(&np, cur, r->s, 0);
            uint64_t s = r->s > cur ? r->s : cur, e = r->e < m->e ? r->e : m->e;
            piece_push(&np, s, e, same_identity(r, m, s));
            cur = e;
        }
        piece_push(&np, cur, m->e, 0);
        for (size_t k = 0; k < np; k++) {
            piece_t pc = pieces[k];
            if (pc.known) {
                int r = pm_scan(p->pmfd, pc.s, pc.e, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                                PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, add_written, &wbuf);
                if (r == -ESRCH) { free(next.v); free(skipped.v); wbuf.n = 0; return -1; }
                if (r == 0) { rset_push(&next, range_of(m, pc.s, pc.e)); continue; }
                /* -EPERM: a new, unregistered mapping took its place */
            }
            if (was_skipped(p, m, pc.s, pc.e)) { rset_push(&skipped, range_of(m, pc.s, pc.e)); continue; }
            int r = register_range(p, pc.s, pc.e, m, mode, &wbuf, NULL);
            if (r == -ESRCH) { free(next.v); free(skipped.v); wbuf.n = 0; return -1; }
            if (r == 0) { rset_push(&next, range_of(m, pc.s, pc.e)); continue; }
            emit_range("skip", p, pc.s, pc.e, m);
            o_key("err"); o_json(strerrorname_np(-r) ? strerrorname_np(-r) : "?");
            o_key("msg"); o_json(r == -EOPNOTSUPP ? "PAGEMAP_SCAN does not walk it (a device or PFN mapping)" : strerror(-r));
            o_end();
            rset_push(&skipped, range_of(m, pc.s, pc.e));
        }
    }
    free(p->reg.v);
    p->reg = next;
    free(p->skipped.v);
    p->skipped = skipped;
    for (size_t i = 0; i < p->reg.n; i++) {
        const range_t *r = &p->reg.v[i];
        if (i == 0 || r->s != p->reg.v[i - 1].e) tracked_ranges++;
        tracked_pages += (long long)((r->e - r->s) / PG);
    }
    emit_w(p, &wbuf);
    return 0;
}

static void report_untracked(pid_t pid, pid_t ppid);

static void proc_close(proc_t *p, const char *how) {
    if (!p->alive) return;
    p->alive = 0;
    /* its address space went away while the process lives on: it exec'd an
     * image the shim is not in (static or setuid) */
    int exec_without_shim = !strcmp(how, "vanished") && syscall(SYS_pidfd_send_signal, p->pidfd, 0, NULL, 0) == 0;
    o_str("{\"t\":\"gone\"");
    o_key("proc"); o_i64(p->id);
    o_key("pid"); o_i64(p->pid);
    o_key("how"); o_json(how);
    o_key("flushed"); o_u64((uint64_t)p->flushed_exit);
    o_key("tNs"); o_i64(rel_ns());
    o_end();
    close(p->pidfd); close(p->uffd); close(p->pmfd);
    if (p->mapsfd >= 0) close(p->mapsfd);
    if (exec_without_shim) report_untracked(p->pid, p->ppid);
}

static uint64_t uffd_features(int uffd) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", uffd);
    read_small(path, buf, sizeof buf);
    char *api = strstr(buf, "API:");
    unsigned long long a, f;
    if (!api || sscanf(api + 4, " %llx:%llx", &a, &f) != 2) return 0;
    return f;
}

static uint64_t last_features;

/* Take the uffd at descriptor `fd` of `pid`; -1 with a reason when that is
 * not possible. */
static int take_uffd(int pidfd, pid_t pid, int fd, char *why, size_t cap) {
    int u = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (u < 0) {
        snprintf(why, cap, "pidfd_getfd(%d, fd %d): %s%s", pid, fd, strerror(errno),
                 errno == EPERM ? " (needs root or CAP_SYS_PTRACE over the process)" : "");
        return -1;
    }
    char path[64], link[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", u);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    if (strcmp(link, "anon_inode:[userfaultfd]")) {
        snprintf(why, cap, "descriptor %d of process %d is not a userfaultfd", fd, pid);
        close(u);
        return -1;
    }
    uint64_t f = uffd_features(u);
    if (!(f & UFFD_FEATURE_WP_ASYNC)) {
        snprintf(why, cap, "the userfaultfd at descriptor %d of process %d lacks UFFD_FEATURE_WP_ASYNC (features 0x%llx)", fd, pid, (unsigned long long)f);
        close(u);
        return -1;
    }
    last_features = f;
    return u;
}

static proc_t *proc_new(pid_t pid, int pidfd, int uffd, const char *why) {
    proc_t *p = calloc(1, sizeof *p);
    if (!p) fatal("memory", "out of memory");
    p->id = next_proc_id++;
    p->pid = pid;
    p->pidfd = pidfd;
    p->uffd = uffd;
    p->alive = 1;
    p->ppid = parent_of(pid);
    char path[64], exe[4096];
    snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
    p->pmfd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    p->mapsfd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    read_small(path, p->comm, sizeof p->comm);
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    p->next = procs;
    procs = p;
    o_str("{\"t\":\"proc\"");
    o_key("id"); o_i64(p->id);
    o_key("pid"); o_i64(pid);
    o_key("ppid"); o_i64(p->ppid);
    o_key("comm"); o_json(p->comm);
    o_key("exe"); o_json(exe);
    o_key("why"); o_json(why);
    o_key("tNs"); o_i64(rel_ns());
    o_end();
    if (p->pmfd < 0 || p->mapsfd < 0) { proc_close(p, "vanished"); return NULL; }
    return p;
}

static int is_descendant(pid_t pid) {
    pid_t me = getpid();
    for (int i = 0; i < 128 && pid > 1; i++) {
        if (pid == root_pid || pid == me || find_alive(pid)) return 1;
        pid = parent_of(pid);
    }
    return 0;
}

static void signal_tree(int sig);

/* ATTACH from the shim: a new address space (command start, fork child, exec). */
static void do_attach(pid_t pid, int fd, uint32_t why) {
    if (!is_descendant(pid)) return;
    proc_t *old = find_alive(pid);
    const char *whyname = why == DLREC_WHY_FORK ? "fork" : old ? "exec" : pid == root_pid && next_proc_id == 0 ? "start" : "spawn";
    if (old) proc_close(old, "exec");
    if (fd < 0) return;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) return;
    char reason[256];
    int u = take_uffd(pidfd, pid, fd, reason, sizeof reason);
    if (u < 0) {
        if (pid == root_pid && next_proc_id == 0) { signal_tree(SIGKILL); fatal("attach", "%s", reason); }
        close(pidfd);
        return;
    }
    proc_t *p = proc_new(pid, pidfd, u, whyname);
    if (p && sweep(p, HOW_INITIAL) < 0) proc_close(p, "vanished");
}

/* FLUSH from the shim: scan now, the process is about to exit or exec. */
static void do_flush(pid_t pid, uint32_t why) {
    proc_t *p = find_alive(pid);
    if (!p) return;
    long long tp = tracked_pages, tr = tracked_ranges;
    if (sweep(p, HOW_NEW) < 0) proc_close(p, "vanished");
    if (why == DLREC_WHY_EXIT) { p->flushed_exit = 1; tracked_gone += tracked_pages - tp; }
    tracked_pages = tp; tracked_ranges = tr;
}

/* ------------------------------------------------------------ untracked processes */

typedef struct { pid_t *v; size_t n, cap; } pidset;

static int pid_in(const pidset *s, pid_t pid) {
    for (size_t i = 0; i < s->n; i++) if (s->v[i] == pid) return 1;
    return 0;
}

static void pid_add(pidset *s, pid_t pid) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        pid_t *v = realloc(s->v, s->cap * sizeof *v);
        if (!v) fatal("memory", "out of memory");
        s->v = v;
    }
    s->v[s->n++] = pid;
}

static pidset untracked_reported, untracked_candidates;

static uint64_t writable_pages_of(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    long nv = read_maps(fd);
    close(fd);
    uint64_t n = 0;
    for (long i = 0; i < nv; i++) if (vmas[i].perms[1] == 'w') n += (vmas[i].e - vmas[i].s) / PG;
    return n;
}

static void report_untracked(pid_t pid, pid_t ppid) {
    if (pid_in(&untracked_reported, pid)) return;
    char path[64], comm[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    read_small(path, comm, sizeof comm);
    o_str("{\"t\":\"untracked\"");
    o_key("pid"); o_i64(pid);
    o_key("ppid"); o_i64(ppid);
    o_key("comm"); o_json(comm);
    o_key("pages"); o_u64(writable_pages_of(pid));
    o_key("tNs"); o_i64(rel_ns());
    o_end();
    pid_add(&untracked_reported, pid);
}

/* Processes of the tree without the shim: children of tracked (or already
 * reported) processes that are still untracked at the next walk (250 ms
 * later; a fork child attaches within milliseconds). */
static void scan_untracked(void) {
    DIR *d = opendir("/proc");
    if (!d) return;
    pidset seen = { 0 };
    pid_t me = getpid();
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        pid_t pid = atoi(de->d_name);
        if (ever_tracked(pid) || pid_in(&untracked_reported, pid)) continue;
        char state = '?';
        pid_t pp = parent_state(pid, &state);
        if (state == 'Z' || state == 'X') continue; /* exited, not yet reaped */
        if (pp <= 0 || !(find_alive(pp) || pp == root_pid || pp == me || pid_in(&untracked_reported, pp))) continue;
        if (pid == root_pid && next_proc_id == 0) continue;
        if (!pid_in(&untracked_candidates, pid)) { pid_add(&seen, pid); continue; }
        report_untracked(pid, pp);
    }
    closedir(d);
    free(untracked_candidates.v);
    untracked_candidates = seen;
}

/* ------------------------------------------------------------ epochs */

static int64_t epoch_ns, duration_ns;
static int64_t epoch_t0;
static long long epochs_done;
static int64_t last_untracked_scan;
static int command_mode;

/* Close the current epoch at now: scan every process, emit "e". */
static void boundary(void) {
    int64_t t1 = rel_ns(), w0 = mono_ns();
    tracked_pages = tracked_ranges = 0;
    int nprocs = 0;
    for (proc_t *p = procs; p; p = p->next) {
        if (!p->alive) continue;
        nprocs++;
        if (sweep(p, HOW_NEW) < 0) proc_close(p, "vanished");
    }
    int64_t work = mono_ns() - w0;
    int64_t proc_scan = 0;
    if (command_mode && mono_ns() - last_untracked_scan >= 250000000LL) {
        int64_t u0 = mono_ns();
        scan_untracked();
        last_untracked_scan = mono_ns();
        proc_scan = last_untracked_scan - u0;
    }
    o_str("{\"t\":\"e\"");
    o_key("t0"); o_i64(epoch_t0);
    o_key("t1"); o_i64(t1);
    o_key("scanNs"); o_i64(scan_ns_acc);
    o_key("workNs"); o_i64(work);
    o_key("eventNs"); o_i64(event_ns_acc);
    o_key("procScanNs"); o_i64(proc_scan);
    o_key("tracked"); o_i64(tracked_pages + tracked_gone);
    o_key("ranges"); o_i64(tracked_ranges);
    o_key("procs"); o_i64(nprocs);
    o_end();
    o_flush();
    scan_ns_acc = event_ns_acc = 0;
    tracked_gone = 0;
    epoch_t0 = t1;
    epochs_done++;
}

static void emit_hello(void) {
    struct utsname u;
    uname(&u);
    char kernel[512];
    snprintf(kernel, sizeof kernel, "%s %s %s", u.sysname, u.release, u.machine);
    o_str("{\"t\":\"hello\"");
    o_key("version"); o_json(RECORDER_VERSION);
    o_key("pageSize"); o_u64(PG);
    o_key("epochNs"); o_i64(epoch_ns);
    o_key("durationNs"); o_i64(duration_ns);
    o_key("kernel"); o_json(kernel);
    o_key("originMonoNs"); o_i64(origin_ns);
    char rm[64];
    snprintf(rm, sizeof rm, "%.3f", real_ms() - (mono_ns() - origin_ns) / 1e6);
    o_key("originUnixMs"); o_str(rm);
    char f[32];
    snprintf(f, sizeof f, "0x%llx", (unsigned long long)last_features);
    o_key("uffdFeatures"); o_json(f);
    o_end();
    o_flush();
}

/* ------------------------------------------------------------ the loop */

static int sfd = -1;         /* signalfd: SIGINT, SIGTERM, SIGCHLD */
static int listen_fd = -1;
#define MAX_CONNS 64
static int conns[MAX_CONNS];
static int nconns;
static const char *stop_reason;

static void reap(void) {
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
        if (w == root_pid) { root_exited = 1; root_status = st; }
    }
}

static void handle_signals(void) {
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) reap();
        else if (!stop_reason) stop_reason = "signal";
    }
}

static void handle_conn(int c) {
    struct dlrec_msg m;
    ssize_t n = recv(c, &m, sizeof m, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n == (ssize_t)sizeof m && m.magic == DLREC_MAGIC) {
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
            int64_t t0 = mono_ns();
            if (m.kind == DLREC_ATTACH) do_attach(cr.pid, m.uffd, m.why);
            else if (m.kind == DLREC_FLUSH) do_flush(cr.pid, m.why);
            /* epoch 0 starts once the command's memory is registered */
            if (origin_ns < 0 && next_proc_id > 0) origin_ns = mono_ns();
            event_ns_acc += mono_ns() - t0;
            o_flush();
        }
        struct dlrec_ack ack = { DLREC_MAGIC, 0, origin_ns, epoch_ns };
        send(c, &ack, sizeof ack, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(c);
    for (int i = 0; i < nconns; i++) if (conns[i] == c) { conns[i] = conns[--nconns]; break; }
}

/* Wait for events until `deadline` (monotonic ns; -1 = none). */
static void poll_once(int64_t deadline) {
    struct pollfd fds[3 + MAX_CONNS + 256];
    proc_t *who[256];
    int n = 0, nprocfds = 0;
    fds[n++] = (struct pollfd){ sfd, POLLIN, 0 };
    if (listen_fd >= 0) fds[n++] = (struct pollfd){ listen_fd, POLLIN, 0 };
    int first_conn = n;
    for (int i = 0; i < nconns; i++) fds[n++] = (struct pollfd){ conns[i], POLLIN, 0 };
    int first_proc = n;
    for (proc_t *p = procs; p && nprocfds < 256; p = p->next) {
        if (!p->alive) continue;
        who[nprocfds++] = p;
        fds[n++] = (struct pollfd){ p->pidfd, POLLIN, 0 };
    }
    struct timespec ts, *tp = NULL;
    if (deadline >= 0) {
        int64_t left = deadline - mono_ns();
        if (left < 0) left = 0;
        ts.tv_sec = left / 1000000000LL;
        ts.tv_nsec = left % 1000000000LL;
        tp = &ts;
    }
    int r = ppoll(fds, (nfds_t)n, tp, NULL);
    if (r <= 0) return;
    if (fds[0].revents) handle_signals();
    if (listen_fd >= 0 && fds[1].revents) {
        int c;
        while (nconns < MAX_CONNS && (c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) conns[nconns++] = c;
    }
    int snapshot[MAX_CONNS], ns = 0;
    for (int i = first_conn; i < first_proc; i++) if (fds[i].revents) snapshot[ns++] = fds[i].fd;
    for (int i = 0; i < ns; i++) handle_conn(snapshot[i]);
    for (int i = 0; i < nprocfds; i++) {
        if (fds[first_proc + i].revents && who[i]->alive) proc_close(who[i], "exit");
    }
}

static void usage(void) {
    fprintf(stderr, "usage: dirtylab-recorder run --epoch-ns N [--duration-ns D] --shim SO -- COMMAND...\n"
                    "       dirtylab-recorder attach --epoch-ns N [--duration-ns D] --pid P --range HEXSTART:PAGES... [--zero-scan]\n"
                    "(run by `dirtylab record`; see tools/recorder/README.md)\n");
    exit(2);
}

/* Signal every process of the tree we started that is still running. */
static void signal_tree(int sig) {
    for (proc_t *p = procs; p; p = p->next) if (p->alive) syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
    if (!root_exited && root_pidfd >= 0) syscall(SYS_pidfd_send_signal, root_pidfd, sig, NULL, 0);
}

static void zero_scan(proc_t *p, const runs_t *present, uint64_t s, uint64_t e, int anon_private, runs_t *zero) {
    static char buf[256 * PG];
    int64_t t0 = mono_ns();
    uint64_t read_pages = 0;
    /* pages to read: the present ones of anonymous private memory (others are
     * zero), every page of anything else (it may hold file data) */
    size_t j = 0;
    for (uint64_t vp = s / PG; vp < e / PG;) {
        uint64_t upto = e / PG;
        int must_read = !anon_private;
        if (anon_private) {
            while (j < present->n && present->v[j] + present->v[j + 1] <= vp) j += 2;
            if (j < present->n && present->v[j] <= vp) { must_read = 1; upto = present->v[j] + present->v[j + 1]; }
            else if (j < present->n) upto = present->v[j];
        }
        if (!must_read) { runs_add(zero, vp, upto - vp); vp = upto; continue; }
        uint64_t n = upto - vp;
        if (n > 256) n = 256;
        struct iovec l = { buf, n * PG }, r = { (void *)(uintptr_t)(vp * PG), n * PG };
        ssize_t got = process_vm_readv(p->pid, &l, 1, &r, 1, 0);
        if (got < (ssize_t)PG) { vp += n; continue; } /* unreadable: not known to be zero */
        uint64_t pages = (uint64_t)got / PG;
        read_pages += pages;
        for (uint64_t k = 0; k < pages; k++) {
            const uint64_t *w = (const uint64_t *)(buf + k * PG);
            uint64_t acc = 0;
            for (size_t i = 0; i < PG / 8; i++) acc |= w[i];
            if (!acc) runs_add(zero, vp + k, 1);
        }
        vp += pages;
    }
    o_str("{\"t\":\"zero\"");
    o_key("proc"); o_i64(p->id);
    o_key("s"); o_u64(s / PG);
    o_key("readPages"); o_u64(read_pages);
    o_key("ns"); o_i64(mono_ns() - t0);
    o_key("r"); o_runs(zero);
    o_end();
    zero->n = 0;
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    const char *mode = argv[1];
    const char *shim = NULL;
    pid_t target = -1;
    int zero = 0, uffd_fd = -1;
    char **cmd = NULL;
    uint64_t rstart[64], rpages[64];
    int nranges = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) { cmd = argv + i + 1; break; }
        if (!strcmp(a, "--zero-scan")) { zero = 1; continue; }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--epoch-ns")) epoch_ns = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--duration-ns")) duration_ns = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--out-fd")) out_fd = atoi(v);
        else if (!strcmp(a, "--shim")) shim = v;
        else if (!strcmp(a, "--pid")) target = atoi(v);
        else if (!strcmp(a, "--uffd-fd")) uffd_fd = atoi(v);
        else if (!strcmp(a, "--range") && nranges < 64) {
            char *c;
            rstart[nranges] = strtoull(v, &c, 16);
            if (*c != ':') usage();
            rpages[nranges++] = strtoull(c + 1, NULL, 10);
        } else usage();
    }
    if (epoch_ns <= 0) usage();
    if (fcntl(out_fd, F_GETFD) < 0) { fprintf(stderr, "dirtylab-recorder: output descriptor %d is not open\n", out_fd); return 2; }
    fcntl(out_fd, F_SETFD, FD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    sigset_t mask, oldmask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, &oldmask);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    if (!strcmp(mode, "run")) {
        if (!shim || !cmd || !cmd[0]) usage();
        command_mode = 1;
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) rnd = (uint64_t)mono_ns();
        char name[100];
        snprintf(name, sizeof name, "dirtylab-rec-%d-%016llx", getpid(), (unsigned long long)rnd);
        listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        memcpy(sa.sun_path + 1, name, strlen(name));
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))) || listen(listen_fd, 64))
            fatal("socket", "cannot listen on a unix socket: %s", strerror(errno));
        int ep[2];
        if (pipe2(ep, O_CLOEXEC)) fatal("pipe", "%s", strerror(errno));
        pid_t c = fork();
        if (c < 0) fatal("fork", "%s", strerror(errno));
        if (c == 0) {
            sigprocmask(SIG_SETMASK, &oldmask, NULL);
            signal(SIGPIPE, SIG_DFL);
            const char *old = getenv("LD_PRELOAD");
            char *pre = malloc(strlen(shim) + (old ? strlen(old) : 0) + 2);
            sprintf(pre, old && *old ? "%s:%s" : "%s", shim, old);
            setenv("LD_PRELOAD", pre, 1);
            setenv(DLREC_SOCK_ENV, name, 1);
            execvp(cmd[0], cmd);
            int e = errno;
            if (write(ep[1], &e, sizeof e) < 0) { /* nothing more to do */ }
            _exit(127);
        }
        root_pid = c;
        root_pidfd = (int)syscall(SYS_pidfd_open, c, 0);
        close(ep[1]);
        int e = 0;
        ssize_t got;
        while ((got = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR) ;
        close(ep[0]);
        if (got == (ssize_t)sizeof e) {
            waitpid(c, NULL, 0);
            fatal("exec", "cannot run \"%s\": %s", cmd[0], strerror(e));
        }
        /* wait for the command's shim to attach */
        int64_t give_up = mono_ns() + 10000000000LL;
        while (next_proc_id == 0) {
            poll_once(give_up);
            if (next_proc_id > 0) break;
            if (stop_reason) { signal_tree(SIGTERM); fatal("attach", "interrupted before the command started"); }
            if (root_exited) {
                fatal("attach", "\"%s\" exited (%s %d) before the recorder could attach: is it statically linked (the LD_PRELOAD shim is not loaded into static binaries)?",
                      cmd[0], WIFSIGNALED(root_status) ? "signal" : "status", WIFSIGNALED(root_status) ? WTERMSIG(root_status) : WEXITSTATUS(root_status));
            }
            if (mono_ns() >= give_up) {
                signal_tree(SIGKILL);
                fatal("attach", "\"%s\" did not load the LD_PRELOAD shim within 10 s: is it statically linked or setuid?", cmd[0]);
            }
        }
    } else if (!strcmp(mode, "attach")) {
        if (target <= 0 || nranges == 0) usage();
        int pidfd = (int)syscall(SYS_pidfd_open, target, 0);
        if (pidfd < 0) fatal("attach", "no process %d (%s)", target, strerror(errno));
        char reason[512] = "", path[64];
        int u = -1;
        if (uffd_fd >= 0) u = take_uffd(pidfd, target, uffd_fd, reason, sizeof reason);
        else {
            /* the shim's descriptor first, then any userfaultfd of the process */
            snprintf(path, sizeof path, "/proc/%d/fd", target);
            DIR *d = opendir(path);
            if (!d) fatal("attach", "cannot list the descriptors of process %d: %s", target, strerror(errno));
            int fds[256], nf = 0;
            struct dirent *de;
            while ((de = readdir(d)) && nf < 256) {
                if (!isdigit((unsigned char)de->d_name[0])) continue;
                char lp[400], link[64];
                snprintf(lp, sizeof lp, "%s/%s", path, de->d_name);
                ssize_t n = readlink(lp, link, sizeof link - 1);
                link[n > 0 ? n : 0] = 0;
                if (!strcmp(link, "anon_inode:[userfaultfd]")) {
                    int fd = atoi(de->d_name);
                    if (fd == DLREC_UFFD_DEFAULT_FD && nf > 0) { fds[nf++] = fds[0]; fds[0] = fd; }
                    else fds[nf++] = fd;
                }
            }
            closedir(d);
            if (nf == 0) {
                snprintf(reason, sizeof reason, "process %d has no userfaultfd: start it with LD_PRELOAD=<the shim> (dirtylab record --print-shim prints its path)", target);
            }
            for (int i = 0; i < nf && u < 0; i++) u = take_uffd(pidfd, target, fds[i], reason, sizeof reason);
        }
        if (u < 0) fatal("attach", "%s", reason);
        proc_t *p = proc_new(target, pidfd, u, "pid");
        if (!p) fatal("attach", "process %d vanished", target);
        p->fixed = 1;
        long nv = read_maps(p->mapsfd);
        runs_t present[64] = { { 0 } };
        vma_t chosen[64];
        char names[64][512];
        for (int i = 0; i < nranges; i++) {
            uint64_t s = rstart[i], e = s + rpages[i] * PG;
            const vma_t *m = NULL;
            for (long k = 0; k < nv; k++) if (vmas[k].s <= s && e <= vmas[k].e) m = &vmas[k];
            if (!m) fatal("attach", "0x%llx + %llu pages is not inside one mapping of process %d", (unsigned long long)s, (unsigned long long)rpages[i], target);
            chosen[i] = *m;
            snprintf(names[i], sizeof names[i], "%s", m->name);
            chosen[i].name = names[i];
        }
        origin_ns = mono_ns();
        for (int i = 0; i < nranges; i++) {
            uint64_t s = rstart[i], e = s + rpages[i] * PG;
            int r = register_range(p, s, e, &chosen[i], HOW_PID, &wbuf, &present[i]);
            if (r < 0) fatal("attach", "cannot register 0x%llx-0x%llx of process %d: %s", (unsigned long long)s, (unsigned long long)e, target, strerror(-r));
            rset_push(&p->reg, range_of(&chosen[i], s, e));
        }
        wbuf.n = 0;
        origin_ns = mono_ns();
        emit_hello();
        if (zero) {
            runs_t z = { 0 };
            for (int i = 0; i < nranges; i++) {
                int anon_private = chosen[i].ino == 0 && chosen[i].perms[3] == 'p';
                zero_scan(p, &present[i], rstart[i], rstart[i] + rpages[i] * PG, anon_private, &z);
            }
            o_flush();
        }
    } else usage();

    if (command_mode) { event_ns_acc = 0; emit_hello(); }
    epoch_t0 = 0;
    last_untracked_scan = mono_ns();
    int64_t next = origin_ns + epoch_ns;
    int64_t stop_at = duration_ns > 0 ? origin_ns + duration_ns : -1;
    for (;;) {
        int64_t deadline = next;
        if (stop_at >= 0 && stop_at < deadline) deadline = stop_at;
        poll_once(deadline);
        if (out_broken && !stop_reason) stop_reason = "output closed";
        if (stop_reason) break;
        int64_t now = mono_ns();
        if (stop_at >= 0 && now >= stop_at) { stop_reason = "duration"; break; }
        if (now >= next) {
            boundary();
            /* stay on the grid origin + k·epoch (workloads may line up with it);
             * a boundary that overran makes the next epoch longer, not extra ones */
            int64_t t = mono_ns();
            while (next <= t) next += epoch_ns;
        }
        if (alive_count() == 0 && (!command_mode || root_exited)) { stop_reason = command_mode ? "exited" : "target exited"; break; }
    }
    /* the last (partial) epoch */
    if (rel_ns() > epoch_t0) boundary();
    if (listen_fd >= 0) { close(listen_fd); listen_fd = -1; }
    for (int i = 0; i < nconns; i++) close(conns[i]);
    nconns = 0;
    int terminated = 0;
    if (command_mode && (!root_exited || alive_count() > 0)) {
        /* we started the command: stop what is left of it */
        terminated = 1;
        signal_tree(SIGTERM);
        int64_t give_up = mono_ns() + 3000000000LL;
        while (!root_exited && mono_ns() < give_up) poll_once(give_up);
        if (!root_exited) {
            signal_tree(SIGKILL);
            give_up = mono_ns() + 2000000000LL;
            while (!root_exited && mono_ns() < give_up) poll_once(give_up);
        }
    }
    if (!command_mode) {
        for (proc_t *p = procs; p; p = p->next) {
            if (!p->alive) continue;
            for (size_t i = 0; i < p->reg.n; i++) {
                struct uffdio_range r = { p->reg.v[i].s, p->reg.v[i].e - p->reg.v[i].s };
                ioctl(p->uffd, UFFDIO_UNREGISTER, &r);
            }
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    o_str("{\"t\":\"end\"");
    o_key("reason"); o_json(stop_reason ? stop_reason : "?");
    o_key("epochs"); o_i64(epochs_done);
    o_key("terminated"); o_u64((uint64_t)terminated);
    if (command_mode && root_exited) {
        if (WIFSIGNALED(root_status)) { o_key("signal"); o_i64(WTERMSIG(root_status)); }
        else { o_key("code"); o_i64(WEXITSTATUS(root_status)); }
    }
    o_key("cpuUserNs"); o_i64((int64_t)ru.ru_utime.tv_sec * 1000000000LL + ru.ru_utime.tv_usec * 1000LL);
    o_key("cpuSysNs"); o_i64((int64_t)ru.ru_stime.tv_sec * 1000000000LL + ru.ru_stime.tv_usec * 1000LL);
    o_key("maxRssKb"); o_i64(ru.ru_maxrss);
    o_end();
    o_flush();
    return 0;
}
