/**
 * KVM dirty-ring entries as text, in three forms (one per file):
 *
 * - the tracepoint kvm:kvm_dirty_ring_push as `perf script` or `trace-cmd
 *   report` print it: `… 1234.567890: kvm:kvm_dirty_ring_push: ring 0: dirty
 *   0x10 reset 0x0 slot 1 offset 0x1a2 (used 16)`;
 * - QEMU's own trace event (`-trace kvm_dirty_ring_page`):
 *   `PID@SECONDS:kvm_dirty_ring_page vcpu 0 fetch 1 offset 0x1a2` (QEMU
 *   prints the slot as "fetch");
 * - plain `SLOT GFN` lines (decimal or 0x-hex), as the KVM dirty-log export
 *   fork writes one window per file; blank lines separate windows.
 *
 * `slot` is KVM's (address space << 16 | memslot id) and the offset is the
 * page's index inside that memslot. Memory slots are laid out back to back in
 * one page space: slot by slot in the order of `--slots SLOT:PAGES[@GPA],…`,
 * where an unknown slot or an offset beyond its slot is an error, or, without
 * a layout, learned from the data (ascending slot numbers, each as large as
 * its highest offset + 1 — pages above it never written are then missing).
 * The header says which, and holds the layout.
 *
 * Time-stamped forms are cut into epochs of `--epoch-ms` from the first
 * event; plain windows are one epoch each. KVM pushes a page on its first
 * write after the ring entry was reset (harvested), so a page written again
 * before the next reset is not pushed again: per-epoch sets shorter than the
 * harvest interval undercount re-writes. meta.semantics says so.
 */
import type { TraceInput } from '../bytes.js';
import { TraceError, type Epoch, type TraceHeader } from '../model.js';
import { badLine, checkEpochSpan, nsSince, parseSeconds, parseUint, sortUnique, textLineBatches, type DirInput, type ImportContext, type ImportResult, type ImporterSpec, preview } from './common.js';

/** Default epoch length of time-stamped input, ms. */
export const KVM_RING_DEFAULT_EPOCH_MS = 100;

type Form = 'tracepoint' | 'qemu' | 'plain';

const FORM_NAMES: Record<Form, string> = {
  tracepoint: 'kvm:kvm_dirty_ring_push lines from perf script / trace-cmd report',
  qemu: 'QEMU kvm_dirty_ring_page trace lines',
  plain: '"SLOT GFN" lines',
};

const NUM = '(0x[0-9a-fA-F]+|\\d+)';
const PUSH = new RegExp(`(\\d+\\.\\d+):\\s+(?:kvm:)?kvm_dirty_ring_push:.*?\\bslot ${NUM} offset ${NUM}`);
const QEMU_PAGE = new RegExp(`^\\s*\\d+@(\\d+\\.\\d+):kvm_dirty_ring_page vcpu -?\\d+ fetch ${NUM} offset ${NUM}`);
const TP_EVENT = /(\d+\.\d+):\s+([\w]+:)?(\w+):/;
const QEMU_EVENT = /^\s*\d+@(\d+\.\d+):(\w+)/;
const PLAIN = new RegExp(`^\\s*${NUM}\\s+${NUM}\\s*$`);
const TRACE_CMD_HEADER = /^\s*(cpus=\d+|CPU \d+ is empty|version = )/;

/** One parsed line. */
type Parsed =
  | { kind: 'page'; form: Form; t: [number, number] | null; slot: number; offset: number }
  | { kind: 'event'; form: Form; t: [number, number]; name: string }
  | { kind: 'window-break' }
  | { kind: 'skip' };

function parse(text: string, line: number, file: string, form: Form | null): Parsed {
  if (text.trim() === '') return form === 'plain' ? { kind: 'window-break' } : { kind: 'skip' };
  if (/^\s*#/.test(text) || TRACE_CMD_HEADER.test(text)) return { kind: 'skip' };
  const num = (s: string, what: string): number => {
    const v = parseUint(s);
    if (v === null) badLine(file, line, `${what} as a number below 2^53, found ${s}`);
    return v!;
  };
  // A stamp the pattern matched but parseSeconds refuses (a fraction of more than
  // 9 digits, seconds past 2^53) is bad input, not a missing time.
  const secs = (s: string): [number, number] => parseSeconds(s) ?? badLine(file, line, `a time stamp in seconds (at most 9 fraction digits, below 2^53 s), found ${s}`);
  let m = PUSH.exec(text);
  if (m) return { kind: 'page', form: 'tracepoint', t: secs(m[1]!), slot: num(m[2]!, 'the slot'), offset: num(m[3]!, 'the offset') };
  if (/kvm_dirty_ring_push/.test(text)) badLine(file, line, `a kvm_dirty_ring_push line with a time stamp and "slot N offset 0xN" fields, found ${preview(text, 80)}`);
  m = QEMU_PAGE.exec(text);
  if (m) return { kind: 'page', form: 'qemu', t: secs(m[1]!), slot: num(m[2]!, 'the slot'), offset: num(m[3]!, 'the offset') };
  if (/kvm_dirty_ring_page/.test(text)) badLine(file, line, `a kvm_dirty_ring_page line "PID@SECONDS:kvm_dirty_ring_page vcpu N fetch SLOT offset 0xN", found ${preview(text, 80)}`);
  m = PLAIN.exec(text);
  if (m) return { kind: 'page', form: 'plain', t: null, slot: num(m[1]!, 'the slot'), offset: num(m[2]!, 'the gfn offset') };
  m = QEMU_EVENT.exec(text);
  if (m) return { kind: 'event', form: 'qemu', t: secs(m[1]!), name: m[2]! };
  m = TP_EVENT.exec(text);
  if (m) return { kind: 'event', form: 'tracepoint', t: secs(m[1]!), name: m[3]! };
  const want = form === 'plain' ? 'two numbers per line, "SLOT GFN"' : form ? FORM_NAMES[form].replace(/ lines.*/, ' lines') : 'kvm:kvm_dirty_ring_push lines (perf script, trace-cmd report), QEMU kvm_dirty_ring_page trace lines, or "SLOT GFN" lines';
  return badLine(file, line, `${want}, found ${preview(text, 80)}`);
}

/** A slot of the page space. */
interface SlotSpan {
  slot: number;
  pages: number;
  first: number;
  gpa?: number;
}

/** Parse `--slots SLOT:PAGES[@GPA],…` (numbers decimal or 0x-hex). */
export function parseSlotLayout(text: string): { slot: number; pages: number; gpa?: number }[] {
  const out: { slot: number; pages: number; gpa?: number }[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(0x[0-9a-f]+|\d+):(0x[0-9a-f]+|\d+)(?:@(0x[0-9a-f]+|\d+))?$/i.exec(part);
    const slot = m ? parseUint(m[1]!) : null;
    const pages = m ? parseUint(m[2]!) : null;
    if (!m || slot === null || pages === null || pages < 1) throw new RangeError(`--slots takes SLOT:PAGES[@GPA] entries joined by commas (e.g. 0:786432,1:262144@0x100000000), not "${part}"`);
    if (out.some((s) => s.slot === slot)) throw new RangeError(`--slots names slot ${slot} twice`);
    out.push(m[3] !== undefined ? { slot, pages, gpa: parseUint(m[3])! } : { slot, pages });
  }
  if (out.length === 0) throw new RangeError('--slots is empty');
  return out;
}

async function run(src: TraceInput | DirInput, ctx: ImportContext): Promise<ImportResult> {
  const input = src as TraceInput;
  const file = input.name;
  const o = ctx.options;
  const epochMs = (o['epoch-ms'] as number | undefined) ?? KVM_RING_DEFAULT_EPOCH_MS;
  if (!(epochMs > 0)) throw new RangeError(`--epoch-ms must be > 0, not ${epochMs}`);
  const epochNs = Math.round(epochMs * 1e6);
  const pageSize = (o['page-size'] as number | undefined) ?? 4096;
  const given = o.slots !== undefined ? parseSlotLayout(o.slots as string) : null;

  // Pass 1: check every line, learn the form, the time span and the slots.
  let form: Form | null = null;
  let formLine = 0;
  let origin: [number, number] | null = null;
  let lastNs = 0;
  let lastLine = 0;
  let windows = 0;
  let inWindow = false;
  let entries = 0;
  let otherEvents = 0;
  let resets = 0;
  const maxOffset = new Map<number, number>();
  const layout = given ? new Map(given.map((s) => [s.slot, s])) : null;
  for await (const batch of textLineBatches(input)) for (const { text, line } of batch) {
    const p = parse(text, line, file, form);
    if (p.kind === 'skip') continue;
    if (p.kind === 'window-break') { inWindow = false; continue; }
    if (form === null) { form = p.form; formLine = line; }
    else if (p.form !== form) badLine(file, line, `${FORM_NAMES[form]} throughout (line ${formLine} is one), found ${FORM_NAMES[p.form]}`);
    if (p.t) {
      origin ??= p.t;
      const ns = nsSince(origin, p.t);
      if (ns < lastNs) badLine(file, line, `time stamps that never go backwards; ${(ns / 1e9).toFixed(6)} s after the first event comes after ${(lastNs / 1e9).toFixed(6)} s (line ${lastLine})`);
      lastNs = ns;
      lastLine = line;
    }
    if (p.kind === 'event') {
      if (/kvm_dirty_ring_reset|kvm_dirty_ring_reap/.test(p.name)) resets++;
      else otherEvents++;
      continue;
    }
    entries++;
    if (!inWindow) { windows++; inWindow = true; }
    if (layout) {
      const s = layout.get(p.slot);
      if (!s) badLine(file, line, `a slot of the --slots layout (${[...layout.keys()].join(', ')}), found slot ${p.slot}`);
      if (p.offset >= s!.pages) badLine(file, line, `an offset below slot ${p.slot}'s ${s!.pages} pages (--slots), found ${p.offset}`);
    } else {
      maxOffset.set(p.slot, Math.max(maxOffset.get(p.slot) ?? 0, p.offset));
    }
  }
  if (form === null || entries === 0) badLine(file, Math.max(1, lastLine), 'at least one dirty-ring entry (kvm_dirty_ring_push, kvm_dirty_ring_page or "SLOT GFN" lines), found none');
  const spans: SlotSpan[] = [];
  let nPages = 0;
  const order = given ?? [...maxOffset.entries()].sort((a, b) => a[0] - b[0]).map(([slot, max]) => ({ slot, pages: max + 1 } as { slot: number; pages: number; gpa?: number }));
  for (const s of order) {
    spans.push({ ...s, first: nPages });
    nPages += s.pages;
  }
  if (nPages >= 2 ** 32) throw new TraceError(file, {}, `a page space below 2^32 pages, found ${nPages} over the slots`);
  const base = new Map(spans.map((s) => [s.slot, s.first]));
  const timed = form !== 'plain';
  if (timed) checkEpochSpan(file, lastLine, lastNs, epochNs);
  const nEpochs = timed ? Math.floor(lastNs / epochNs) + 1 : windows;

  const layoutSource = given ? 'given (--slots)' : 'learned from the data: ascending slot numbers, each as large as its highest offset + 1 (give --slots for the real sizes)';
  const header: TraceHeader = {
    pageSize,
    nPages,
    timeUnit: 'ns',
    epochLen: epochNs,
    nEpochs,
    hasTimes: false,
    hasCounts: false,
    zeroAtStart: null,
    meta: {
      source: 'KVM dirty ring',
      importedFrom: 'kvm-dirty-ring',
      input: file,
      form: FORM_NAMES[form!],
      slotLayout: {
        source: layoutSource,
        slots: spans.map((s) => ({ slot: s.slot, addressSpace: s.slot >> 16, memslot: s.slot & 0xffff, pages: s.pages, firstPage: s.first, ...(s.gpa !== undefined ? { gpa: `0x${s.gpa.toString(16)}` } : {}) })),
      },
      epochs: timed ? `${epochMs} ms from the first event` : `one per window (blank-line separated), each taken as ${epochMs} ms`,
      semantics: 'KVM pushes a page to the ring on its first write after the entry was reset (harvested); a page written again before the next reset is not pushed again, so epochs shorter than the harvest interval undercount re-writes',
      entries,
      harvestEvents: resets,
      otherEventsSkipped: otherEvents,
      timeZeroNs: 0,
    },
  };
  let dupes = 0;
  header.meta.importFixes = { duplicatePagesRemoved: 0 };

  async function* epochs(): AsyncGenerator<Epoch> {
    let k = 0;
    let cur: number[] = [];
    const close = (): Epoch => {
      const { pages, duplicates } = sortUnique(Uint32Array.from(cur));
      dupes += duplicates;
      (header.meta.importFixes as Record<string, number>).duplicatePagesRemoved = dupes;
      cur = [];
      const e = { t0: k * epochNs, t1: (k + 1) * epochNs, pages };
      k++;
      return e;
    };
    let breakSeen = false;
    let any = false;
    for await (const batch of textLineBatches(input)) for (const { text, line } of batch) {
      const p = parse(text, line, file, form);
      if (p.kind === 'skip' || p.kind === 'event') continue;
      if (p.kind === 'window-break') { breakSeen = true; continue; }
      if (timed) {
        const idx = Math.floor(nsSince(origin!, p.t!) / epochNs);
        while (k < idx) yield close();
      } else if (breakSeen && any) yield close();
      breakSeen = false;
      any = true;
      cur.push(base.get(p.slot)! + p.offset);
    }
    while (k < nEpochs) yield close();
  }
  const notes = [
    `${entries} dirty-ring entries (${FORM_NAMES[form!]}), ${nEpochs} epochs of ${epochMs} ms${timed ? '' : ' (one per window)'}`,
    `slot layout ${layoutSource}: ${spans.map((s) => `slot ${s.slot} = ${s.pages} pages from page ${s.first}`).join('; ')}`,
    'KVM pushes a page on its first write after a harvest: epochs shorter than the harvest interval undercount re-writes',
  ];
  return { header, epochs: epochs(), notes };
}

/** The kvm-dirty-ring importer. */
export const kvmDirtyRing: ImporterSpec = {
  id: 'kvm-dirty-ring',
  summary: 'KVM dirty-ring entries: perf script / trace-cmd report of kvm:kvm_dirty_ring_push, QEMU kvm_dirty_ring_page trace lines, or plain "SLOT GFN" lines; memory slots laid out in one page space',
  input: 'file',
  options: [
    { flag: 'epoch-ms', kind: 'duration', description: `epoch length for time-stamped input (default ${KVM_RING_DEFAULT_EPOCH_MS}ms); plain windows are one epoch each` },
    { flag: 'slots', kind: 'string', description: 'memory-slot layout SLOT:PAGES[@GPA],… in page-space order; unknown slots are then an error (default: learned from the data, and the header says so)' },
    { flag: 'page-size', kind: 'int', description: 'page size in bytes (default 4096)' },
  ],
  run,
};
