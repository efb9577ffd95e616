/**
 * The address map of a recorded process trace (docs/dpt-format.md): a process's
 * address space is sparse, so `dirtylab record` numbers the pages it tracks
 * densely (0 … nPages − 1) and keeps, in the trace's meta.addressMap, which
 * mapping of which process each run of indices is.
 *
 * Identity of a page:
 *  - private memory (anonymous, heap, stack, a file's copy-on-write data) is
 *    one page per process and virtual page: the same address in the same
 *    process keeps its index even if the mapping there is replaced;
 *  - shared memory (MAP_SHARED: shmem, memfd, shared files) is one page per
 *    (device, inode, file page), so a page that several processes map (a
 *    parent and its forked children) is counted once.
 *
 * Pure code (no Node API): the recorder session builds it, `inspect` and tests
 * read it.
 */

/** What kind of memory a mapping is, from /proc/PID/maps. */
export type MappingKind = 'heap' | 'stack' | 'anon' | 'file-private' | 'shmem' | 'file-shared';

/** Where a block of indices is mapped in one process. */
export interface BlockPlace {
  /** The process instance (`meta.processes[].id`; a new one after exec). */
  proc: number;
  pid: number;
  /** Virtual address of the block's first page, as 0x… hex. */
  start: string;
}

/** A run of dense indices that is one piece of one mapping. */
export interface AddressBlock {
  /** First dense page index. */
  index: number;
  pages: number;
  kind: MappingKind;
  /** The mapping's path or [heap]/[stack]; "" for anonymous memory. */
  name: string;
  /** Permissions as /proc/PID/maps shows them when first seen (rw-p, rw-s). */
  perms: string;
  /** Shared memory only: the object's device and inode, and the file page of the block's first page. */
  dev?: string;
  ino?: number;
  filePage?: number;
  /** Every process and address the block is mapped at (private: one). */
  at: BlockPlace[];
}

/** meta.addressMap of a recorded trace. */
export interface AddressMap {
  version: 1;
  pageSize: number;
  blocks: AddressBlock[];
}

/** A mapping as the native recorder reports it ("map" lines). */
export interface MappingInfo {
  proc: number;
  pid: number;
  /** First virtual page number (address / page size). */
  startPage: number;
  pages: number;
  perms: string;
  dev: string;
  ino: number;
  /** File page of startPage (shared and file mappings), else 0. */
  filePage: number;
  name: string;
}

/** The kind of a mapping from its maps line. */
export function mappingKind(perms: string, name: string, ino: number): MappingKind {
  const shared = perms[3] === 's';
  if (shared) {
    return /^\/(memfd:|dev\/zero|SYSV|dev\/shm\/)/.test(name) ? 'shmem' : 'file-shared';
  }
  if (name === '[heap]') return 'heap';
  if (name.startsWith('[stack')) return 'stack';
  return ino !== 0 ? 'file-private' : 'anon';
}

interface Interval {
  /** First page (virtual page or file page). */
  s: number;
  /** End page, exclusive. */
  e: number;
  /** Dense index of page s. */
  base: number;
}

interface Segment {
  s: number;
  e: number;
  /** Shared: the object's key and the file page of s; private: null. */
  key: string | null;
  filePage: number;
}

const hex = (page: number, pageSize: number) => '0x' + (page * pageSize).toString(16);

/** Insert [s, e) into sorted, disjoint intervals, allocating dense indices for the parts not there yet. */
function cover(list: Interval[], s: number, e: number, alloc: (s: number, e: number) => number): void {
  const add: Interval[] = [];
  let cur = s;
  for (const iv of list) {
    if (iv.e <= cur) continue;
    if (iv.s >= e) break;
    if (iv.s > cur) add.push({ s: cur, e: iv.s, base: alloc(cur, iv.s) });
    cur = Math.max(cur, iv.e);
    if (cur >= e) break;
  }
  if (cur < e) add.push({ s: cur, e, base: alloc(cur, e) });
  if (add.length === 0) return;
  list.push(...add);
  list.sort((a, b) => a.s - b.s);
}

/** Map [s, e) through sorted intervals to dense runs; returns pages not covered. */
function through(list: Interval[], s: number, e: number, out: (start: number, length: number) => void): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.e <= s) lo = mid + 1;
    else hi = mid;
  }
  let missing = 0;
  let cur = s;
  for (let i = lo; i < list.length && cur < e; i++) {
    const iv = list[i]!;
    if (iv.s >= e) break;
    if (iv.s > cur) { missing += iv.s - cur; cur = iv.s; }
    const end = Math.min(e, iv.e);
    out(iv.base + (cur - iv.s), end - cur);
    cur = end;
  }
  return missing + (e - cur);
}

/**
 * Dense numbering of the pages a recording tracks, built as mappings are
 * reported; translates written virtual pages into dense indices.
 */
export class DenseAddressMap {
  private size = 0;
  private readonly blocks: AddressBlock[] = [];
  /** Private memory: per process instance, virtual-page intervals → dense. */
  private readonly priv = new Map<number, Interval[]>();
  /** Shared objects: per dev:ino, file-page intervals → dense. */
  private readonly objects = new Map<string, Interval[]>();
  /** Per process instance: which virtual pages are which memory (sorted). */
  private readonly segments = new Map<number, Segment[]>();
  /** Shared blocks by object key, for adding places. */
  private readonly sharedBlocks = new Map<string, AddressBlock[]>();

  constructor(readonly pageSize = 4096) {}

  /** Pages numbered so far (the trace's nPages). */
  get nPages(): number {
    return this.size;
  }

  /** Record a mapping (a "map" line); new pages get the next dense indices. */
  addMapping(m: MappingInfo): void {
    if (m.pages <= 0) return;
    const shared = m.perms[3] === 's' && m.ino !== 0;
    const kind = mappingKind(m.perms, m.name, m.ino);
    const s = m.startPage;
    const e = m.startPage + m.pages;
    let seg: Segment;
    if (shared) {
      const key = `${m.dev}:${m.ino}`;
      let list = this.objects.get(key);
      if (!list) this.objects.set(key, (list = []));
      let blocks = this.sharedBlocks.get(key);
      if (!blocks) this.sharedBlocks.set(key, (blocks = []));
      const known = blocks.slice();
      cover(list, m.filePage, m.filePage + m.pages, (fs, fe) => {
        const b: AddressBlock = {
          index: this.size, pages: fe - fs, kind, name: m.name, perms: m.perms, dev: m.dev, ino: m.ino, filePage: fs,
          at: [{ proc: m.proc, pid: m.pid, start: hex(s + (fs - m.filePage), this.pageSize) }],
        };
        this.blocks.push(b);
        blocks!.push(b);
        this.size += fe - fs;
        return b.index;
      });
      // Blocks of this object allocated before: this process maps them too.
      for (const b of known) {
        if (b.filePage! + b.pages <= m.filePage || b.filePage! >= m.filePage + m.pages) continue;
        if (b.at.some((a) => a.proc === m.proc)) continue;
        b.at.push({ proc: m.proc, pid: m.pid, start: hex(s + (b.filePage! - m.filePage), this.pageSize) });
      }
      seg = { s, e, key, filePage: m.filePage };
    } else {
      let list = this.priv.get(m.proc);
      if (!list) this.priv.set(m.proc, (list = []));
      cover(list, s, e, (vs, ve) => {
        this.blocks.push({ index: this.size, pages: ve - vs, kind, name: m.name, perms: m.perms, at: [{ proc: m.proc, pid: m.pid, start: hex(vs, this.pageSize) }] });
        this.size += ve - vs;
        return this.size - (ve - vs);
      });
      seg = { s, e, key: null, filePage: 0 };
    }
    // The newest mapping at an address wins.
    let segs = this.segments.get(m.proc);
    if (!segs) this.segments.set(m.proc, (segs = []));
    const kept: Segment[] = [];
    for (const x of segs) {
      if (x.e <= s || x.s >= e) { kept.push(x); continue; }
      if (x.s < s) kept.push({ ...x, e: s });
      if (x.e > e) kept.push({ ...x, s: e, filePage: x.key ? x.filePage + (e - x.s) : 0 });
    }
    kept.push(seg);
    kept.sort((a, b) => a.s - b.s);
    this.segments.set(m.proc, kept);
  }

  /**
   * Translate written virtual pages [startPage, startPage + count) of a process
   * into dense runs; returns how many pages had no mapping (0 unless the
   * recorder's output is inconsistent).
   */
  translate(proc: number, startPage: number, count: number, out: (start: number, length: number) => void): number {
    const segs = this.segments.get(proc);
    if (!segs) return count;
    const e = startPage + count;
    let missing = 0;
    let cur = startPage;
    let lo = 0;
    let hi = segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (segs[mid]!.e <= cur) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < segs.length && cur < e; i++) {
      const g = segs[i]!;
      if (g.s >= e) break;
      if (g.s > cur) { missing += g.s - cur; cur = g.s; }
      const end = Math.min(e, g.e);
      if (g.key === null) missing += through(this.priv.get(proc)!, cur, end, out);
      else {
        const f = g.filePage + (cur - g.s);
        missing += through(this.objects.get(g.key)!, f, f + (end - cur), out);
      }
      cur = end;
    }
    return missing + (e - cur);
  }

  /** The map as it goes into meta.addressMap. */
  toJSON(): AddressMap {
    return { version: 1, pageSize: this.pageSize, blocks: this.blocks };
  }
}

/** Whether a value looks like meta.addressMap (blocks with index, pages and places). */
export function isAddressMap(v: unknown): v is AddressMap {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Partial<AddressMap>;
  return Array.isArray(m.blocks) && m.blocks.every((b) =>
    typeof b === 'object' && b !== null && Number.isInteger(b.index) && Number.isInteger(b.pages) && b.pages > 0 && Array.isArray(b.at));
}

/**
 * The dense index of the page holding `address` in process `pid` (or process
 * instance `proc`), or null if the recording did not track it.
 */
export function denseIndexOf(map: AddressMap, pid: number, address: bigint | number, proc?: number): number | null {
  const page = BigInt(address) / BigInt(map.pageSize);
  for (const b of map.blocks) {
    for (const a of b.at) {
      if (a.pid !== pid || (proc !== undefined && a.proc !== proc)) continue;
      const off = page - BigInt(a.start) / BigInt(map.pageSize);
      if (off >= 0n && off < BigInt(b.pages)) return b.index + Number(off);
    }
  }
  return null;
}
