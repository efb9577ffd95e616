/*
 * What the LD_PRELOAD shim (shim.c) and the recorder (recorder.c) say to each
 * other in `dirtylab record -- COMMAND` mode, over a SOCK_SEQPACKET unix
 * socket in the abstract namespace named by $DIRTYLAB_REC_SOCK. The shim
 * connects, sends one message and blocks until the recorder answers, so the
 * recorder has registered the process's memory (ATTACH) or
 * scanned it (FLUSH) before the process goes on. The recorder takes the
 * sender's pid from SO_PEERCRED, never from the message.
 */
#ifndef DIRTYLAB_PROTOCOL_H
#define DIRTYLAB_PROTOCOL_H

#include <stdint.h>

#define DLREC_MAGIC 0x43524c44u /* "DLRC" little-endian */
#define DLREC_SOCK_ENV "DIRTYLAB_REC_SOCK"
#define DLREC_UFFD_ENV "UFFDWP_FD"
#define DLREC_UFFD_DEFAULT_FD 1000

enum dlrec_kind {
    DLREC_ATTACH = 1, /* a new address space: take my uffd, register my memory */
    DLREC_FLUSH = 2,  /* scan me now: I am about to exit or exec */
};

enum dlrec_why {
    DLREC_WHY_START = 0, /* constructor of a freshly exec'd image */
    DLREC_WHY_FORK = 1,  /* child side of fork() */
    DLREC_WHY_EXIT = 2,  /* exit(), _exit(), _Exit() */
    DLREC_WHY_EXEC = 3,  /* execve() */
};

struct dlrec_msg {
    uint32_t magic;
    uint32_t kind; /* enum dlrec_kind */
    uint32_t why;  /* enum dlrec_why */
    int32_t uffd;  /* ATTACH: the descriptor number of the uffd in the sender */
};

/* The recorder's answer. Its clock lets a workload line its work up with
 * the epochs: the shim exports them at start as DIRTYLAB_RECORD_EPOCH0_NS
 * (CLOCK_MONOTONIC at the start of epoch 0) and DIRTYLAB_RECORD_EPOCH_NS. */
struct dlrec_ack {
    uint32_t magic;
    uint32_t reserved;
    int64_t origin_mono_ns; /* -1 before epoch 0 started */
    int64_t epoch_ns;
};

#define DLREC_EPOCH0_ENV "DIRTYLAB_RECORD_EPOCH0_NS"
#define DLREC_EPOCH_ENV "DIRTYLAB_RECORD_EPOCH_NS"

#endif
