/**
 * xbzrle: QEMU 7.2's pre-copy with the xbzrle capability. Sources (as read in
 * notes/xen-xbzrle-multifd.md part B): migration/ram.c find_dirty_block,
 * ram_save_target_page, ram_save_page, save_xbzrle_page,
 * xbzrle_cache_zero_page; migration/page_cache.c cache_is_cached,
 * cache_insert (@1a739d30, unchanged in 7.2); migration/xbzrle.c
 * xbzrle_encode_buffer (@1393a485); docs/xbzrle.txt. Spec:
 * docs/methods.md The loop around it is qemu-precopy's.
 *
 *   cache: slots = xbzrle-cache-size / page size, a power of two (QEMU refuses
 *     other sizes: migrate_params_check, cache_init); slot = page & (slots − 1)
 *     (cache_get_cache_pos); each slot holds one page and its age; gen =
 *     dirty-sync-count (+1 at every migration_bitmap_sync, 1 after setup)
 *   started = the cursor has wrapped once (find_dirty_block sets
 *     xbzrle_enabled when it passes the last RAM block) and not post-copy,
 *     and multifd is off (7.2 ram_save_target_page hands non-zero pages to
 *     multifd before ram_save_page: they never reach XBZRLE)
 *   per page sent, in the cursor's order:
 *     zero page (save_zero_page runs first: 9 bytes):
 *       if started: insert(page)              xbzrle_cache_zero_page (7.2 has no
 *                                             last-stage check): takes a slot
 *     normal page, not started: 8 + page size bytes
 *     normal page, started:
 *       if slot holds page:                   cache_is_cached → HIT, age := gen
 *         pages++ (QEMU's xbzrle-cache.pages counts every hit)
 *         overflow (encoded > page size):     overflow++, sent whole: 8 + page size
 *         else: encoded-hit bytes (below); the cache takes the sent content
 *       else:                                 MISS: cache-miss++ (last stage too)
 *         if not the last stage: insert(page) (cache_insert; may be refused)
 *         sent whole: 8 + page size
 *   insert(page): refused if the slot holds another page whose
 *     age + CACHED_PAGE_LIFETIME (2) > gen; else slot := (page, gen)
 *   the last stage (ram_save_complete, guest stopped) inserts nothing
 *
 * A trace has no page contents, so what a hit costs is not in it:
 *   encoded-hit bytes = the profile's xbzrleEncodedBytes: QEMU's counters
 *     over real XBZRLE runs, (bytes − 4096·overflow) / (pages − overflow) + 8,
 *     the mean wire bytes of a hit (8-byte header + 1 + 2 + encoded length).
 *     An unchanged page (encoded length 0: QEMU sends nothing) is not told
 *     apart: the counters cannot separate it from an encoded one, so it is in
 *     the mean with 0 bytes plus a header it does not send (≤ 8 B per hit of
 *     bias, upwards). --param xbzrle-ratio=R overrides it (8 + 1 + 2 + R × page
 *     size); a profile without the constant (ideal) uses R = 0.25, the research
 *     spec's default (real guests range from a few % — this project's dirtier
 *     writes 8 bytes per page, ≈ 22 B on the wire — to overflow).
 *   overflow share = the profile's xbzrleOverflowShare (overflow / pages of
 *     the runs; 0 on every run here), else 0.05 (research spec's default);
 *     --param xbzrle-overflow overrides it. Which hits overflow is
 *     deterministic: hit number h overflows when ⌊h·share⌋ grows.
 *   encoding CPU: the profile's xbzrleCpuUs per hit (snapshot copy, encode,
 *     cache update on the migration thread; a miss's insert is one 4 KiB copy
 *     and is not charged); the ideal host has none.
 *
 * QEMU's rate limit counts the bytes really written, so a slot carries more
 * pages when they hit: the engine sizes each send with this method's prices.
 */
import { ParamError, type MethodSpec, type Params } from '../method.js';
import type { Engine, PagePricer } from '../engine.js';
import type { Bitmap } from '../../kernel/index.js';
import { QEMU_PARAMS, qemuLoop } from './qemu-precopy.js';

/** CACHED_PAGE_LIFETIME of migration/page_cache.c. */
export const CACHED_PAGE_LIFETIME = 2;
/** The research spec's (docs/methods.md) defaults, for a profile without measured XBZRLE constants. */
export const DEFAULT_XBZRLE_RATIO = 0.25;
export const DEFAULT_XBZRLE_OVERFLOW = 0.05;
/** Bytes of an XBZRLE page besides its encoded delta: 8 (offset|flags) + 1 (ENCODING_FLAG_XBZRLE) + 2 (be16 length). */
export const XBZRLE_HEADER_BYTES = 8 + 1 + 2;

/**
 * QEMU's page cache (migration/page_cache.c): direct-mapped, one page and
 * its age per slot. A dry run (budget sizing) writes to an overlay that
 * reset() drops; a commit writes the cache itself.
 */
export class XbzrleCache {
  readonly slots: number;
  private readonly page: Float64Array;
  private readonly age: Float64Array;
  // The dry run's overlay: a slot written since the last reset() has stamp[slot] === stampNow
  // and its page and age in dryPage/dryAge (reset is one increment; no per-call allocation).
  private readonly stamp: Uint32Array;
  private stampNow = 1;
  private readonly dryPage: Float64Array;
  private readonly dryAge: Float64Array;

  constructor(cacheBytes: number, pageSize: number) {
    const slots = cacheBytes / pageSize;
    if (!Number.isInteger(slots) || slots < 1 || (slots & (slots - 1)) !== 0) {
      throw new ParamError(`--param xbzrle-cache-size must be a power-of-two multiple of the page size (QEMU refuses others), not ${cacheBytes} bytes`);
    }
    this.slots = slots;
    this.page = new Float64Array(slots).fill(-1);
    this.age = new Float64Array(slots);
    this.stamp = new Uint32Array(slots);
    this.dryPage = new Float64Array(slots);
    this.dryAge = new Float64Array(slots);
  }

  private pageAt(slot: number, commit: boolean): number {
    return !commit && this.stamp[slot] === this.stampNow ? this.dryPage[slot]! : this.page[slot]!;
  }

  private ageAt(slot: number, commit: boolean): number {
    return !commit && this.stamp[slot] === this.stampNow ? this.dryAge[slot]! : this.age[slot]!;
  }

  private set(slot: number, q: number, gen: number, commit: boolean): void {
    if (commit) {
      this.page[slot] = q;
      this.age[slot] = gen;
    } else {
      this.stamp[slot] = this.stampNow;
      this.dryPage[slot] = q;
      this.dryAge[slot] = gen;
    }
  }

  /** cache_is_cached: whether page q is in its slot; a hit sets the slot's age to gen. */
  lookup(q: number, gen: number, commit = true): boolean {
    const slot = q & (this.slots - 1);
    if (this.pageAt(slot, commit) !== q) return false;
    this.set(slot, q, gen, commit);
    return true;
  }

  /** cache_insert: refused (false) while the slot holds another page younger than CACHED_PAGE_LIFETIME generations. */
  insert(q: number, gen: number, commit = true): boolean {
    const slot = q & (this.slots - 1);
    const p = this.pageAt(slot, commit);
    if (p !== -1 && p !== q && this.ageAt(slot, commit) + CACHED_PAGE_LIFETIME > gen) return false;
    this.set(slot, q, gen, commit);
    return true;
  }

  /** The page slot s holds (−1: empty), committed state. */
  holds(slot: number): number {
    return this.page[slot]!;
  }

  /** Drop the dry runs. */
  reset(): void {
    if (++this.stampNow === 2 ** 32) {
      this.stamp.fill(0);
      this.stampNow = 1;
    }
  }
}

/** A number parameter that defaults to the profile's value: `profile`, or a number in [lo, hi]. */
function profileOr(p: Params, name: string, lo: number, hi: number): number | null {
  const text = String(p[name]);
  if (text === 'profile') return null;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < lo || v > hi) throw new ParamError(`--param ${name} takes profile or a number from ${lo} to ${hi}, not "${text}"`);
  return v;
}

/** What one hit costs and how often it overflows, from the parameters or the profile; and where from. */
export function xbzrlePrices(e: Engine, p: Params): { hitBytes: number; overflowShare: number; hitCpuNs: number; from: string } {
  const cal = e.cfg.calibration;
  const ratio = profileOr(p, 'xbzrle-ratio', 0, 1);
  const share = profileOr(p, 'xbzrle-overflow', 0, 1);
  const measured = cal.xbzrleEncodedBytes;
  const hitBytes = ratio !== null ? XBZRLE_HEADER_BYTES + ratio * e.pageSize
    : measured !== undefined ? measured
      : XBZRLE_HEADER_BYTES + DEFAULT_XBZRLE_RATIO * e.pageSize;
  const from = ratio !== null ? `--param xbzrle-ratio=${ratio}`
    : measured !== undefined ? `profile ${cal.name} xbzrleEncodedBytes`
      : `xbzrle-ratio ${DEFAULT_XBZRLE_RATIO} (no measured value in profile ${cal.name})`;
  return {
    hitBytes,
    overflowShare: share ?? cal.xbzrleOverflowShare ?? DEFAULT_XBZRLE_OVERFLOW,
    hitCpuNs: (cal.xbzrleCpuUs ?? 0) * 1e3,
    from,
  };
}

/** The XBZRLE pricer of an engine: QEMU's cache rules, the profile's prices; counters in e.extra. */
export function xbzrlePricer(e: Engine, p: Params): PagePricer {
  return new XbzrlePricer(e, p);
}

/**
 * xbzrlePricer()'s pricer. A class, not an object of closures made per run:
 * V8 (Node 20) compiled each run's new closures again (see PaperPolicy).
 */
class XbzrlePricer implements PagePricer {
  readonly maxPageBytes: number;
  readonly maxPageCpuNs: number;
  private readonly cache: XbzrleCache;
  private readonly hitBytes: number;
  private readonly overflowShare: number;
  private readonly hitCpuNs: number;
  // Committed counters (QEMU's names) and their dry-run copies.
  private hits = 0;
  private misses = 0;
  private overflows = 0;
  private dryHits = 0;
  private dryOverflows = 0;

  constructor(private readonly e: Engine, p: Params) {
    this.cache = new XbzrleCache(p['xbzrle-cache-size'] as number, e.pageSize);
    const { hitBytes, overflowShare, hitCpuNs, from } = xbzrlePrices(e, p);
    this.hitBytes = hitBytes;
    this.overflowShare = overflowShare;
    this.hitCpuNs = hitCpuNs;
    this.maxPageBytes = Math.max(e.pageCost, hitBytes);
    this.maxPageCpuNs = hitCpuNs;
    e.extra.xbzrleHitBytes = hitBytes;
    e.extra.xbzrleHitBytesFrom = from;
    e.extra.xbzrleOverflowShare = overflowShare;
    this.publish();
  }

  private publish(): void {
    const { e, hits, overflows } = this;
    e.extra.xbzrleCacheHits = hits;
    e.extra.xbzrleCacheMisses = this.misses;
    e.extra.xbzrleOverflows = overflows;
    // QEMU's xbzrle-cache.bytes: wire bytes − 8 per encoded page, 4096 per overflow.
    e.extra.xbzrleBytes = Math.round((hits - overflows) * (this.hitBytes - 8)) + overflows * e.pageSize;
  }

  reset(): void {
    this.cache.reset();
    this.dryHits = this.hits;
    this.dryOverflows = this.overflows;
  }

  price(src: Bitmap, from: number, to: number, normal: number, commit: boolean): { bytes: number; cpuNs: number } {
    const { e, cache, overflowShare, hitBytes } = this;
    if (!(e.laps >= 1 && !e.postcopy)) return { bytes: normal * e.pageCost, cpuNs: 0 }; // before the first lap's end: no cache
    const k = e.k;
    const gen = e.dirtySyncCount;
    const last = e.stopped;
    const list = k.toList(src, undefined, from, to);
    const u = k.u32;
    const nz = e.nonZero.ptr >>> 2;
    let h = commit ? this.hits : this.dryHits;
    let o = commit ? this.overflows : this.dryOverflows;
    const h0 = h;
    const o0 = o;
    let missed = 0;
    for (let i = 0; i < list.length; i++) {
      const q = list[i]!;
      if (((u[nz + (q >>> 5)]! >>> (q & 31)) & 1) === 0) {
        cache.insert(q, gen, commit); // xbzrle_cache_zero_page
        continue;
      }
      if (cache.lookup(q, gen, commit)) {
        h++;
        if (Math.floor(h * overflowShare) > Math.floor((h - 1) * overflowShare)) o++;
      } else {
        missed++;
        if (!last) cache.insert(q, gen, commit);
      }
    }
    // Integer bytes: the encoded hits' bytes as the difference of rounded running totals.
    const encodedBytes = Math.round((h - o) * hitBytes) - Math.round((h0 - o0) * hitBytes);
    const bytes = (missed + (o - o0)) * e.pageCost + encodedBytes;
    if (commit) {
      this.hits = h;
      this.overflows = o;
      this.misses += missed;
      this.publish();
    } else {
      this.dryHits = h;
      this.dryOverflows = o;
    }
    return { bytes, cpuNs: (h - h0) * this.hitCpuNs };
  }
}

/** The xbzrle method, as the comment at the top of this file describes it. */
export const xbzrle: MethodSpec = {
  id: 'xbzrle',
  summary: 'QEMU\'s pre-copy that, after the first pass, sends pages it still has in a cache as compressed deltas: fewer bytes per re-sent page for the CPU and cache memory it costs.',
  source: 'QEMU 7.2 migration/ram.c save_xbzrle_page, xbzrle_cache_zero_page, find_dirty_block; migration/page_cache.c; migration/xbzrle.c; docs/xbzrle.txt; docs/methods.md',
  ships: 'qemu',
  params: [
    { name: 'xbzrle-cache-size', kind: 'size', default: '64MiB', min: 4096, description: 'XBZRLE cache size, a power-of-two multiple of the page size (QEMU default 64 MiB)' },
    { name: 'xbzrle-ratio', kind: 'text', default: 'profile', description: 'encoded size of a cache hit / page size (a trace has no contents): profile = the calibration profile\'s measured mean (xbzrleEncodedBytes), else 0.25' },
    { name: 'xbzrle-overflow', kind: 'text', default: 'profile', description: 'share of cache hits whose delta overflows and is sent whole: profile = the calibration profile\'s measured share, else 0.05' },
    ...QEMU_PARAMS,
  ],
  run(e, p) {
    // With multifd on, 7.2 sends non-zero pages through multifd before ram_save_page: XBZRLE is never used.
    if (((p['multifd-channels'] as number | undefined) ?? 0) === 0) e.pricer = xbzrlePricer(e, p);
    return qemuLoop(e, p);
  },
};
