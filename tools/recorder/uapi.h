/*
 * Kernel UAPI the recorder needs that Debian 12's 6.1 headers predate:
 * PAGEMAP_SCAN (Linux 6.7, linux/fs.h) and userfaultfd's WP_ASYNC /
 * WP_UNPOPULATED features (6.7 / 6.4, linux/userfaultfd.h). Each is defined
 * only when the installed headers lack it, so newer headers win.
 */
#ifndef DIRTYLAB_UAPI_H
#define DIRTYLAB_UAPI_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#endif

#ifndef PAGEMAP_SCAN
/* One run of pages with equal categories, [start, end) in bytes. */
struct page_region {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
};

/* Argument of the PAGEMAP_SCAN ioctl on /proc/PID/pagemap. */
struct pm_scan_arg {
    uint64_t size;
    uint64_t flags;
    uint64_t start;
    uint64_t end;
    uint64_t walk_end;
    uint64_t vec;
    uint64_t vec_len;
    uint64_t max_pages;
    uint64_t category_inverted;
    uint64_t category_mask;
    uint64_t category_anyof_mask;
    uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)

#define PM_SCAN_WP_MATCHING (1ULL << 0)
#define PM_SCAN_CHECK_WPASYNC (1ULL << 1)

#define PAGE_IS_WPALLOWED (1ULL << 0)
#define PAGE_IS_WRITTEN (1ULL << 1)
#define PAGE_IS_FILE (1ULL << 2)
#define PAGE_IS_PRESENT (1ULL << 3)
#define PAGE_IS_SWAPPED (1ULL << 4)
#define PAGE_IS_PFNZERO (1ULL << 5)
#define PAGE_IS_HUGE (1ULL << 6)
#endif /* PAGEMAP_SCAN */

#endif
