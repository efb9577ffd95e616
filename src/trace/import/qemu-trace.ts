/**
 * QEMU trace-event logs (`-trace events=FILE -D LOG -msg timestamp=on`; each
 * line `PID@SECONDS.MICROS:EVENT ARGS`). Two ways to pages, and the header
 * says which one was used (meta.pagesFrom):
 *
 * - `memory_notdirty_write_access VADDR ram_addr ADDR size N` (TCG only):
 *   QEMU logs the first write to a page after each re-arm of its dirty
 *   tracking (at every migration_bitmap_sync), so the distinct `ram_addr`
 *   pages between two syncs are exactly the pages written in that interval.
 *   Epochs are the intervals between `migration_bitmap_sync_end` events
 *   (default) or `--epoch-ms` windows (then a page appears only in the window
 *   of its first write since the last sync, and the header says so).
 * - otherwise `ram_save_page BLOCK: offset: 0xOFF host: …` with
 *   `migration_bitmap_sync_end dirty_pages N`: the pages QEMU sent after sync
 *   k+1 are the pages written between syncs k and k+1 (the bulk stage after
 *   the first sync is skipped). These are approximate per-sync sets: zero
 *   pages are sent without a ram_save_page line (a lower bound), and pages
 *   still unsent at the next sync (rate-limited rounds, the final copy) land
 *   in a later epoch. QEMU's own dirty_pages figures are kept beside them in
 *   meta.perSync (QEMU's num_dirty_pages_period: pages newly dirtied since
 *   its last rate update, which is ≥ 1 s apart, so it accumulates over
 *   closer syncs).
 *
 * Page index = ram_addr (or the block offset) / page size; `--ram-size`
 * gives the guest RAM (pages above it belong to other RAM blocks and are
 * dropped, counted); without it the page count is learned from the highest
 * page seen, and the header says so. Time stamps may step back by up to
 * 1 ms between QEMU threads (counted); more is an error. Times are ns from
 * the first epoch's start; migrate_set_state "setup" is kept as
 * meta.migrationSetupNs.
 */
import type { TraceInput } from '../bytes.js';
import { TraceError, type Epoch, type TraceHeader } from '../model.js';
import { badLine, checkEpochSpan, nsSince, pageShift, parseSeconds, sortUnique, textLineBatches, type DirInput, type ImportContext, type ImportResult, type ImporterSpec, preview } from './common.js';

/** How far time stamps of QEMU's threads may step back before the log counts as corrupt, ns. */
export const QEMU_TRACE_REORDER_NS = 1e6;

const LINE = /^\s*(\d+)@(\d+\.\d+):(\w+)(?:\s+(.*?))?\s*$/;
const UNSTAMPED = /^\s*(memory_notdirty_write_access|migration_bitmap_sync_end|ram_save_page)\b/;
const NOTDIRTY = /^0x[0-9a-fA-F]+ ram_addr 0x([0-9a-fA-F]+) size (\d+)$/;
const SYNC_END = /^dirty_pages (\d+)$/;
const SAVE_PAGE = /^(\S+): offset: 0x([0-9a-fA-F]+) host: (?:0x[0-9a-fA-F]+|\(nil\))$/;

type Ev =
  | { kind: 'write'; t: [number, number]; first: number; last: number }
  | { kind: 'sent'; t: [number, number]; block: string; page: number }
  | { kind: 'sync'; t: [number, number]; dirty: number }
  | { kind: 'setup'; t: [number, number] }
  | { kind: 'other' };

function pageOf(hex: string, extra: number, shift: number, file: string, line: number): number {
  const v = hex.length <= 13 ? parseInt(hex, 16) + extra : Number((BigInt('0x' + hex) + BigInt(extra)));
  if (!Number.isSafeInteger(v)) badLine(file, line, `an address below 2^53, found 0x${hex}`);
  return Math.floor(v / 2 ** shift);
}

function parse(text: string, line: number, file: string, shift: number): Ev | null {
  if (text.trim() === '') return null;
  const m = LINE.exec(text);
  if (!m) {
    if (UNSTAMPED.test(text)) badLine(file, line, 'trace lines with time stamps, "PID@SECONDS:EVENT ARGS" (run QEMU with -msg timestamp=on)');
    return { kind: 'other' };
  }
  const t = parseSeconds(m[2]!);
  if (!t) badLine(file, line, `a time stamp in seconds, found ${m[2]}`);
  const args = m[4] ?? '';
  switch (m[3]) {
    case 'memory_notdirty_write_access': {
      const a = NOTDIRTY.exec(args);
      if (!a) badLine(file, line, `memory_notdirty_write_access arguments "0xVADDR ram_addr 0xADDR size N", found ${preview(args, 80)}`);
      const size = Number(a![2]);
      if (!(size >= 1 && size <= 4096)) badLine(file, line, `a write size from 1 to 4096 bytes, found ${a![2]}`);
      return { kind: 'write', t: t!, first: pageOf(a![1]!, 0, shift, file, line), last: pageOf(a![1]!, size - 1, shift, file, line) };
    }
    case 'migration_bitmap_sync_end': {
      const a = SYNC_END.exec(args);
      if (!a) badLine(file, line, `migration_bitmap_sync_end arguments "dirty_pages N", found ${preview(args, 80)}`);
      return { kind: 'sync', t: t!, dirty: Number(a![1]) };
    }
    case 'ram_save_page': {
      const a = SAVE_PAGE.exec(args);
      if (!a) badLine(file, line, `ram_save_page arguments "BLOCK: offset: 0xOFFSET host: 0xADDR", found ${preview(args, 80)}`);
      return { kind: 'sent', t: t!, block: a![1]!, page: pageOf(a![2]!, 0, shift, file, line) };
    }
    case 'migrate_set_state':
      return args === 'new state setup' ? { kind: 'setup', t: t! } : { kind: 'other' };
    default:
      return { kind: 'other' };
  }
}

async function run(src: TraceInput | DirInput, ctx: ImportContext): Promise<ImportResult> {
  const input = src as TraceInput;
  const file = input.name;
  const o = ctx.options;
  const pageSize = (o['page-size'] as number | undefined) ?? 4096;
  const shift = pageShift(pageSize);
  const ramBytes = o['ram-size'] as number | undefined;
  if (ramBytes !== undefined && !(ramBytes >= pageSize)) throw new RangeError(`--ram-size must be at least one page (${pageSize} B), not ${ramBytes}`);
  const epochMs = o['epoch-ms'] as number | undefined;
  if (epochMs !== undefined && !(epochMs > 0)) throw new RangeError(`--epoch-ms must be > 0, not ${epochMs}`);

  // Pass 1: check every line; learn syncs, the mode, the blocks and the page range.
  let origin: [number, number] | null = null;
  let last = -Infinity;
  let lastLine = 0;
  let reordered = 0;
  let writes = 0;
  let sentLines = 0;
  let other = 0;
  let maxWritePage = -1;
  let firstWriteNs: number | null = null;
  let lastWriteNs = 0;
  let setupNs: number | null = null;
  const syncs: { ns: number; dirty: number; line: number }[] = [];
  const blocks = new Map<string, { lines: number; maxPage: number }>();
  for await (const batch of textLineBatches(input)) for (const { text, line } of batch) {
    const ev = parse(text, line, file, shift);
    if (ev === null) continue;
    if (ev.kind === 'other') { other++; continue; }
    origin ??= ev.t;
    const ns = nsSince(origin, ev.t);
    if (ns < last) {
      if (last - ns > QEMU_TRACE_REORDER_NS) badLine(file, line, `time stamps that never go back by more than ${QEMU_TRACE_REORDER_NS / 1e6} ms (QEMU's threads interleave), found ${((last - ns) / 1e6).toFixed(3)} ms back from line ${lastLine}`);
      reordered++;
    } else { last = ns; lastLine = line; }
    if (ev.kind === 'write') {
      writes++;
      maxWritePage = Math.max(maxWritePage, ev.last);
      firstWriteNs ??= ns;
      lastWriteNs = Math.max(lastWriteNs, ns);
    } else if (ev.kind === 'sent') {
      sentLines++;
      const b = blocks.get(ev.block) ?? { lines: 0, maxPage: -1 };
      b.lines++;
      b.maxPage = Math.max(b.maxPage, ev.page);
      blocks.set(ev.block, b);
    } else if (ev.kind === 'sync') syncs.push({ ns, dirty: ev.dirty, line });
    else if (ev.kind === 'setup') setupNs ??= ns;
  }
  syncs.sort((a, b) => a.ns - b.ns);
  const mode: 'notdirty' | 'sent' = writes > 0 ? 'notdirty' : 'sent';
  if (writes === 0 && sentLines === 0) badLine(file, Math.max(1, lastLine), 'memory_notdirty_write_access (TCG) or ram_save_page trace events with migration_bitmap_sync_end, found neither');
  const block = mode === 'sent' ? ((o.block as string | undefined) ?? [...blocks.entries()].sort((a, b) => b[1].lines - a[1].lines)[0]![0]) : null;
  if (block !== null && !blocks.has(block)) throw new RangeError(`--block ${block}: the log sends pages of ${[...blocks.keys()].join(', ')} only`);
  if (mode === 'sent' && syncs.length < 2) badLine(file, Math.max(1, lastLine), `at least two migration_bitmap_sync_end events to turn ram_save_page lines into per-sync sets, found ${syncs.length}`);
  if (mode === 'sent' && epochMs !== undefined) throw new RangeError('--epoch-ms cuts memory_notdirty_write_access writes into windows; this log has none, and its ram_save_page lines only give per-sync sets');
  const useSyncs = mode === 'sent' || (epochMs === undefined && syncs.length >= 2);
  const stepNs = Math.round((epochMs ?? 100) * 1e6);

  // Epoch boundaries on the pass-1 axis (ns since the first event).
  let bounds: number[];
  if (useSyncs) bounds = syncs.map((s) => s.ns);
  else {
    const start = syncs.length > 0 ? syncs[0]!.ns : firstWriteNs!;
    const end = syncs.length > 1 ? syncs[syncs.length - 1]!.ns : lastWriteNs + 1;
    checkEpochSpan(file, lastLine, end - start, stepNs);
    const n = Math.max(1, Math.ceil((end - start) / stepNs));
    bounds = Array.from({ length: n + 1 }, (_, i) => start + i * stepNs);
  }
  const nEpochs = bounds.length - 1;
  const t0 = bounds[0]!;
  const learnedPages = mode === 'notdirty' ? maxWritePage + 1 : blocks.get(block!)!.maxPage + 1;
  const nPages = ramBytes !== undefined ? Math.floor(ramBytes / pageSize) : learnedPages;
  if (nPages < 1 || nPages >= 2 ** 32) throw new TraceError(file, {}, `a page count from 1 to 2^32 − 1, found ${nPages}`);

  const pagesFrom = mode === 'notdirty'
    ? 'memory_notdirty_write_access (TCG): distinct ram_addr pages of first writes after each dirty-tracking re-arm — the pages written'
    : `ram_save_page of block ${block}: the pages QEMU sent after each sync, i.e. found dirty there — approximate: zero pages are sent without a ram_save_page line (a lower bound), and pages QEMU had not sent by the next sync (its rounds are rate-limited; the final copy sends all that is left) land in a later epoch (the sets lean late); memory_notdirty_write_access logs are exact`;
  const epochRule = useSyncs
    ? (mode === 'notdirty' ? 'the intervals between migration_bitmap_sync_end events' : 'the intervals between migration_bitmap_sync_end events; epoch k holds the pages sent after sync k+1 (the bulk stage after the first sync is skipped)')
    : `${epochMs ?? 100} ms windows${epochMs === undefined ? ' (default: fewer than two syncs in the log)' : ''} from ${syncs.length ? 'the first sync' : 'the first write'}${syncs.length ? '; a page appears only in the window of its first write after each sync (QEMU logs first writes only)' : ''}`;
  const fixes = { pagesOutsideRam: 0, eventsOutsideEpochs: 0, otherBlocksPages: 0, duplicatePagesRemoved: 0, timeStampsSteppedBack: reordered };
  const perSync = syncs.map((s, i) => ({ sync: i, atNs: s.ns - t0, dirtyPages: s.dirty }));
  const header: TraceHeader = {
    pageSize,
    nPages,
    timeUnit: 'ns',
    epochLen: useSyncs ? Math.max(1, Math.round((bounds[nEpochs]! - t0) / Math.max(1, nEpochs))) : stepNs,
    nEpochs,
    hasTimes: true,
    hasCounts: false,
    zeroAtStart: null,
    meta: {
      source: 'QEMU trace events',
      importedFrom: 'qemu-trace',
      input: file,
      pagesFrom,
      epochs: epochRule,
      pages: ramBytes !== undefined ? `--ram-size ${ramBytes} B` : `learned: the highest page seen + 1 (${learnedPages}); RAM above it is missing — give --ram-size`,
      pageIndex: mode === 'notdirty' ? 'ram_addr / pageSize (QEMU\'s ram_addr_t space; the pc machine\'s pc.ram starts at 0)' : `offset in ${block} / pageSize`,
      perSync,
      perSyncNote: 'dirtyPages is QEMU\'s migration_bitmap_sync_end figure (num_dirty_pages_period): pages newly dirtied since its last rate update, ≥ 1 s apart, so it accumulates over syncs closer than that',
      migrationSetupNs: setupNs === null ? null : setupNs - t0,
      traceLinesOfOtherEvents: other,
      importFixes: fixes,
      timeZeroNs: 0,
    },
  };

  async function* epochs(): AsyncGenerator<Epoch> {
    const sets: Map<number, number[]> = new Map();
    let next = 0; // next epoch to yield
    let maxNs = -Infinity;
    const find = (ns: number): number => {
      let lo = 0;
      let hi = bounds.length - 1;
      if (ns < bounds[0]!) return -1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (bounds[mid]! <= ns) lo = mid; else hi = mid - 1;
      }
      return lo; // interval index: [bounds[lo], bounds[lo+1])
    };
    const emit = (k: number): Epoch => {
      const { pages, duplicates } = sortUnique(Uint32Array.from(sets.get(k) ?? []));
      fixes.duplicatePagesRemoved += duplicates;
      sets.delete(k);
      return { t0: bounds[k]! - t0, t1: bounds[k + 1]! - t0, pages };
    };
    const add = (k: number, p: number) => {
      if (p >= nPages) { fixes.pagesOutsideRam++; return; }
      if (k < next) { fixes.eventsOutsideEpochs++; return; }
      let s = sets.get(k);
      if (!s) sets.set(k, (s = []));
      s.push(p);
    };
    for await (const batch of textLineBatches(input)) for (const { text, line } of batch) {
      const ev = parse(text, line, file, shift);
      if (ev === null || ev.kind === 'other' || ev.kind === 'setup' || ev.kind === 'sync') continue;
      const ns = nsSince(origin!, ev.t);
      maxNs = Math.max(maxNs, ns);
      const iv = find(ns);
      if (ev.kind === 'write') {
        if (iv < 0 || iv >= nEpochs) fixes.eventsOutsideEpochs++;
        else for (let p = ev.first; p <= ev.last; p++) add(iv, p);
      } else {
        if (ev.block !== block) { fixes.otherBlocksPages++; continue; }
        // Sent after sync j (interval j) → written in epoch j − 1; the bulk stage (interval 0) has no epoch.
        if (iv <= 0) fixes.eventsOutsideEpochs++;
        else add(iv - 1, ev.page);
      }
      // Epochs whose end lies more than the reordering tolerance behind are complete.
      const lag = mode === 'sent' ? 1 : 0;
      while (next < nEpochs && bounds[next + 1 + lag] !== undefined && bounds[next + 1 + lag]! + QEMU_TRACE_REORDER_NS <= maxNs) yield emit(next++);
    }
    while (next < nEpochs) yield emit(next++);
  }
  const notes = [
    `pages from ${pagesFrom}`,
    `${nEpochs} epochs: ${epochRule}; ${syncs.length} syncs in the log`,
    `page count ${ramBytes !== undefined ? `from --ram-size: ${nPages}` : `learned from the highest page seen: ${nPages} (give --ram-size for the guest's RAM)`}`,
  ];
  if (reordered) notes.push(`${reordered} time stamps stepped back by ≤ 1 ms (QEMU threads interleave); events are placed by their own time`);
  return { header, epochs: epochs(), notes };
}

/** The qemu-trace importer. */
export const qemuTrace: ImporterSpec = {
  id: 'qemu-trace',
  summary: 'QEMU trace-event logs (-trace … -msg timestamp=on): memory_notdirty_write_access (TCG) → pages written per sync interval; else ram_save_page + migration_bitmap_sync_end → per-sync sets; the header says which',
  input: 'file',
  options: [
    { flag: 'epoch-ms', kind: 'duration', description: 'cut notdirty writes into windows of this length instead of sync intervals (default: sync intervals; 100ms when the log has fewer than two syncs)' },
    { flag: 'ram-size', kind: 'size', description: 'guest RAM, e.g. 262148KiB (default: learned from the highest page seen, and the header says so)' },
    { flag: 'block', kind: 'string', description: 'RAM block whose ram_save_page lines count (default: the one with the most, e.g. pc.ram)' },
    { flag: 'page-size', kind: 'int', description: 'target page size in bytes (default 4096)' },
  ],
  run,
};
