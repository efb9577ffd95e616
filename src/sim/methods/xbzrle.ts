/**
 * xbzrle: QEMU's pre-copy with the xbzrle capability (migration/ram.c
 * save_xbzrle_page, find_dirty_block's xbzrle_started; migration/page_cache.c;
 * default cache 64 MiB, DEFAULT_MIGRATE_XBZRLE_CACHE_SIZE). Spec:
 * research/algorithms.md §8.
 *
 *   XBZRLE starts after the cursor's first complete lap
 *   cache: direct-mapped, slots = cache size / page size (a power of two),
 *     slot = page mod slots; an entry remembers its page and its age
 *     (dirty-sync-count when stored); a new page does not evict an entry
 *     younger than CACHED_PAGE_LIFETIME = 2 generations
 *   a non-zero page found in the cache is sent as an XBZRLE delta:
 *     8 + 1 + 2 bytes of headers + xbzrle-ratio × page size
 *   a miss stores the page (when it may) and sends it whole; zero pages are
 *   caught first, as 9-byte markers
 *
 * A trace has no page contents, so the delta size is a parameter:
 * xbzrle-ratio = encoded size / page size, default 0.25 (the research spec's
 * default; XBZRLE of real guests ranges from a few % — small scattered writes,
 * like this project's dirtier, which writes 8 bytes per page — to overflow at
 * 100 % for rewritten pages; report it as the knob it is).
 */
import { QEMU_PARAMS, qemuLoop } from './qemu-precopy.js';
import type { MethodSpec } from '../method.js';

/** CACHED_PAGE_LIFETIME of migration/page_cache.c. */
const CACHED_PAGE_LIFETIME = 2;

/** The xbzrle method, as the comment at the top of this file describes it. */
export const xbzrle: MethodSpec = {
  id: 'xbzrle',
  summary: 'QEMU\'s pre-copy that, after the first pass, sends pages it still has in a cache as compressed deltas: fewer bytes per re-sent page for the CPU and cache memory it costs.',
  source: 'QEMU migration/ram.c save_xbzrle_page; migration/page_cache.c; migration/options.c; research/algorithms.md §8',
  ships: 'qemu',
  params: [
    { name: 'xbzrle-cache-size', kind: 'size', default: '64MiB', min: 4096, description: 'XBZRLE cache size (QEMU default 64 MiB)' },
    { name: 'xbzrle-ratio', kind: 'number', default: '0.25', min: 0, max: 1, description: 'encoded size of a cached page / page size (a trace has no contents)' },
    ...QEMU_PARAMS,
  ],
  run(e, p) {
    const slots = 2 ** Math.floor(Math.log2((p['xbzrle-cache-size'] as number) / e.pageSize));
    const cachedPage = new Float64Array(slots).fill(-1);
    const age = new Float64Array(slots);
    const delta = 8 + 1 + 2 + Math.round((p['xbzrle-ratio'] as number) * e.pageSize);
    let hits = 0;
    let misses = 0;
    e.normalPagesCost = (pages) => {
      if (e.laps < 1) return pages.length * e.pageCost; // not started before the first lap
      const gen = e.dirtySyncCount;
      let bytes = 0;
      for (const q of pages) {
        const slot = q & (slots - 1);
        if (cachedPage[slot] === q) {
          hits++;
          age[slot] = gen;
          bytes += delta;
        } else {
          misses++;
          bytes += e.pageCost;
          const last = e.stopped; // the final stage does not insert misses
          if (!last && (cachedPage[slot] === -1 || age[slot]! + CACHED_PAGE_LIFETIME <= gen)) {
            cachedPage[slot] = q;
            age[slot] = gen;
          }
        }
      }
      e.extra.xbzrleCacheHits = hits;
      e.extra.xbzrleCacheMisses = misses;
      return bytes;
    };
    return qemuLoop(e, p);
  },
};
