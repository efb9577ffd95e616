/**
 * Valgrind lackey (`valgrind --tool=lackey --trace-mem=yes PROG`): one line
 * per guest instruction (`I  ADDR,SIZE`) and per data access (` L|S|M
 * ADDR,SIZE`; hex address, decimal size). Stores (S) and modifies (M) are
 * writes; a write spanning a page boundary writes every page it spans. Loads
 * (L) and instruction fetches only put their pages into the page space.
 *
 * The clock is the guest instruction count (timeUnit 'instructions'): epoch k
 * holds the accesses of instructions [k·N, (k+1)·N). `--epoch-events N` cuts
 * every N data accesses instead (epochs then carry their instruction spans).
 * A file without I lines (traces that kept only data accesses) is clocked by
 * its data accesses, and the header says so.
 *
 * Process pages are sparse: they are compacted to dense indices in address
 * order, and the address map (runs of consecutive pages) goes into
 * meta.addressMap. Valgrind's own `==PID==` / `--PID--` lines are skipped and
 * counted.
 *
 * Two passes: the first checks every line, counts instructions and accesses
 * (so the default epoch length gives ≥ 100 epochs) and collects the page
 * space; the second streams the epochs.
 */
import type { TraceInput } from '../bytes.js';
import type { Epoch, TraceHeader } from '../model.js';
import { PageCompactor, badLine, niceFloor, pageShift, textLineBatches, type DirInput, type ImportContext, type ImportResult, type ImporterSpec, preview } from './common.js';

/** Epochs the default epoch length aims at (at least this many). */
export const LACKEY_DEFAULT_EPOCHS = 100;
/** Largest access size accepted, bytes (lackey reports at most a vector register's width). */
const MAX_ACCESS = 1 << 24;

const RECORD = /^\s*([ILSM])\s+([0-9a-fA-F]+),([0-9]+)\s*$/;
const VALGRIND_NOTE = /^(==|--)\d+(==|--)/;

interface Access {
  kind: 'I' | 'L' | 'S' | 'M';
  first: number;
  last: number;
}

/** Parse one line: an access, null for a line to skip, or an error naming the line. */
function parseLine(text: string, line: number, file: string, shift: number): Access | null {
  if (text.trim() === '' || VALGRIND_NOTE.test(text)) return null;
  const m = RECORD.exec(text);
  if (!m) {
    return badLine(file, line, `a lackey record, "I  ADDR,SIZE" or " S|L|M ADDR,SIZE" (hex address, decimal size; from valgrind --tool=lackey --trace-mem=yes), found ${preview(text, 60)}`);
  }
  const size = Number(m[3]);
  if (!(size >= 1 && size <= MAX_ACCESS)) badLine(file, line, `an access size from 1 to ${MAX_ACCESS} bytes, found ${m[3]}`);
  const hex = m[2]!;
  let first: number;
  let last: number;
  if (hex.length <= 13) {
    const a = parseInt(hex, 16);
    first = Math.floor(a / 2 ** shift);
    last = Math.floor((a + size - 1) / 2 ** shift);
  } else {
    const a = BigInt('0x' + hex);
    const f = a >> BigInt(shift);
    const l = (a + BigInt(size - 1)) >> BigInt(shift);
    if (l > BigInt(Number.MAX_SAFE_INTEGER)) badLine(file, line, `an address below 2^${53 + shift}, found 0x${hex}`);
    first = Number(f);
    last = Number(l);
  }
  return { kind: m[1] as Access['kind'], first, last };
}

/** The input's accesses in batches (null = a skipped line). */
async function* accesses(input: TraceInput, shift: number): AsyncGenerator<(Access | null)[]> {
  for await (const batch of textLineBatches(input)) yield batch.map(({ text, line }) => parseLine(text, line, input.name, shift));
}

/** Import a lackey trace. */
async function run(src: TraceInput | DirInput, ctx: ImportContext): Promise<ImportResult> {
  const input = src as TraceInput;
  const o = ctx.options;
  const pageSize = (o['page-size'] as number | undefined) ?? 4096;
  const shift = pageShift(pageSize);
  const space = (o['page-space'] as 'touched' | 'written' | undefined) ?? 'touched';
  if (o['epoch-instructions'] !== undefined && o['epoch-events'] !== undefined) throw new RangeError('give --epoch-instructions or --epoch-events, not both');

  // Pass 1: check every line, count, and collect the page space.
  let instructions = 0;
  const counts = { L: 0, S: 0, M: 0 };
  let skipped = 0;
  let spanning = 0;
  const seen = new Set<number>();
  for await (const batch of accesses(input, shift)) for (const a of batch) {
    if (a === null) { skipped++; continue; }
    if (a.kind === 'I') instructions++;
    else counts[a.kind]++;
    const isWrite = a.kind === 'S' || a.kind === 'M';
    if (isWrite && a.last > a.first) spanning++;
    if (space === 'touched' || isWrite) for (let p = a.first; p <= a.last; p++) seen.add(p);
  }
  const events = counts.L + counts.S + counts.M;
  if (instructions === 0 && events === 0) badLine(input.name, 1, 'lackey records (valgrind --tool=lackey --trace-mem=yes output), found none');
  const byEvents = o['epoch-events'] !== undefined || instructions === 0;
  const given = (byEvents ? o['epoch-events'] : o['epoch-instructions']) as number | undefined;
  const total = byEvents ? events : instructions;
  const n = given ?? niceFloor(total / LACKEY_DEFAULT_EPOCHS);
  const nEpochs = Math.max(1, Math.ceil(total / n));
  const map = new PageCompactor(seen);
  seen.clear();
  if (map.size === 0) badLine(input.name, 1, 'at least one store (S) or modify (M) record; the program wrote nothing');

  const clockNote = instructions > 0 ? 'guest instructions (I lines)' : 'data accesses: the input has no I lines, so each L/S/M record counts as one instruction';
  const epochRule = byEvents
    ? `every ${n} data accesses (L, S, M)${given === undefined ? ` (default: the ${events} accesses / ${LACKEY_DEFAULT_EPOCHS}, rounded down to 1, 2 or 5 × 10^k)` : ' (--epoch-events)'}`
    : `every ${n} guest instructions${given === undefined ? ` (default: the ${instructions} instructions / ${LACKEY_DEFAULT_EPOCHS}, rounded down to 1, 2 or 5 × 10^k)` : ' (--epoch-instructions)'}`;
  const timeTotal = instructions > 0 ? instructions : events;
  const header: TraceHeader = {
    pageSize,
    nPages: map.size,
    timeUnit: 'instructions',
    epochLen: byEvents && instructions > 0 ? Math.max(1, Math.round((n * instructions) / events)) : n,
    nEpochs,
    hasTimes: true,
    hasCounts: true,
    zeroAtStart: null,
    meta: {
      source: 'valgrind-lackey',
      importedFrom: 'lackey',
      input: input.name,
      clock: clockNote,
      epochs: epochRule,
      totals: { instructions, loads: counts.L, stores: counts.S, modifies: counts.M, writesSpanningPages: spanning, valgrindLinesSkipped: skipped },
      pageSpace: space === 'touched'
        ? 'every page an instruction fetch, load, store or modify touched (pages only read are migrated but never written)'
        : 'only pages written (S, M) (--page-space written)',
      addressMap: {
        kind: 'process virtual addresses, compacted: dense index firstPage + i is address base + i × pageSize',
        pageSize,
        runs: map.runs.map(([p, first, count]) => ({ base: `0x${(p * pageSize).toString(16)}`, firstPage: first, pages: count })),
      },
      importFixes: { pageListsSorted: 0, duplicatePagesRemoved: 0 },
      writeCounts: 'store and modify records per page and epoch',
    },
  };

  async function* epochs(): AsyncGenerator<Epoch> {
    let k = 0;
    let instr = 0; // I lines seen
    let ev = 0; // data accesses seen
    let t0 = 0;
    let writes = new Map<number, number>();
    const close = (t1: number): Epoch => {
      const pages = Uint32Array.from(writes.keys()).sort();
      const c = Uint32Array.from(pages, (p) => writes.get(p)!);
      const e = { t0, t1, pages, counts: c };
      writes = new Map();
      t0 = t1;
      k++;
      return e;
    };
    for await (const batch of accesses(input, shift)) for (const a of batch) {
      if (a === null) continue;
      if (a.kind === 'I') {
        // Instruction number `instr` (0-based) starts: close epochs it has left behind.
        if (!byEvents) while (instr >= (k + 1) * n && k < nEpochs - 1) yield close((k + 1) * n);
        instr++;
        continue;
      }
      if (byEvents) {
        while (ev >= (k + 1) * n && k < nEpochs - 1) yield close(instructions > 0 ? instr : ev);
        ev++;
      }
      if (a.kind === 'L') continue;
      for (let p = a.first; p <= a.last; p++) {
        const d = map.dense(p);
        writes.set(d, (writes.get(d) ?? 0) + 1);
      }
    }
    while (k < nEpochs - 1) yield close(byEvents ? t0 : (k + 1) * n);
    yield close(timeTotal);
  }

  const notes = [
    `clock: ${clockNote}; epochs: ${epochRule}; ${nEpochs} epochs`,
    `page space: ${map.size} pages (${space}) in ${map.runs.length} runs of consecutive virtual pages (meta.addressMap)`,
    `${instructions} instructions, ${counts.S} stores, ${counts.M} modifies, ${counts.L} loads; ${spanning} writes span two pages${skipped ? `; ${skipped} Valgrind message lines skipped` : ''}`,
    'time unit: instructions — simulate, compare and grid map it to time with --instructions-per-second',
  ];
  return { header, epochs: epochs(), notes };
}

/** The lackey importer. */
export const lackey: ImporterSpec = {
  id: 'lackey',
  summary: 'Valgrind lackey output (valgrind --tool=lackey --trace-mem=yes): S and M records are writes; time in guest instructions; sparse virtual pages compacted, address map in the header',
  input: 'file',
  options: [
    { flag: 'epoch-instructions', kind: 'int', description: `epoch = N guest instructions (default: the instruction count / ${LACKEY_DEFAULT_EPOCHS}, rounded down to 1, 2 or 5 × 10^k, so every trace has ≥ ${LACKEY_DEFAULT_EPOCHS} epochs)` },
    { flag: 'epoch-events', kind: 'int', description: 'or epoch = N data accesses (L, S, M records)' },
    { flag: 'page-size', kind: 'int', description: 'page size in bytes, a power of two (default 4096)' },
    { flag: 'page-space', kind: ['touched', 'written'], description: 'which pages form the trace\'s memory: every page touched (default) or only pages written' },
  ],
  run,
};
