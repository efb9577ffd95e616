/**
 * A migration's `query-migrate` replies, polled — JSON lines or one JSON
 * document, wrapped (`{"return": {…}}`) or bare, extra keys allowed (the
 * team's qmp.jsonl.gz adds t_ms) — or the text of libvirt's `virsh
 * domjobinfo`, polled (blocks starting "Job type:").
 *
 * `ram.dirty-pages-rate` (virsh: "Dirty rate: N pages/s") is QEMU's count of
 * pages newly dirtied between its rate updates divided by their distance;
 * QEMU updates it at the first bitmap sync at least 1 s after the previous
 * update. Each new value is a window: its length is the time between the
 * polls where the value changed (`total-time`, virsh "Time elapsed"; the
 * first window starts at `setup-time`), or 1 s — QEMU's shortest period —
 * when the polls cannot tell. Pages in it = rate × window. Rates measured
 * while QEMU throttled the guest describe the throttled guest.
 *
 * The guest's size comes from `ram.total` / `ram.page-size` (virsh: "Memory
 * total", "Page size") or `--ram-size`. These are rates, not pages: the
 * windows become a dirty-rate curve and a synthetic trace
 * (src/trace/import/rates.ts).
 */
import type { TraceInput } from '../bytes.js';
import { PAGE_SIZE_RULE, TraceError, validPageSize, type Where } from '../model.js';
import { jsonObjects, qmpPayload } from './calc-dirty-rate.js';
import { contentText, type DirInput, type ImportContext, type ImportResult, type ImporterSpec, preview } from './common.js';
import { RATE_OPTIONS, traceFromRates, type RateSample } from './rates.js';

/** QEMU's shortest dirty-rate period, ms (migration/ram.c: rates are updated ≥ 1000 ms apart). */
export const QEMU_RATE_PERIOD_MS = 1000;

/** One poll: time (ms) when known, the rate (pages/s), the sync count, guest size. */
export interface Poll {
  timeMs: number | null;
  rate: number;
  syncs: number | null;
  setupMs: number | null;
  ramBytes: number | null;
  pageSize: number | null;
  where: Where;
}

const SIZE_UNITS: Record<string, number> = { b: 1, bytes: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };

function fromJson(text: string, file: string): { polls: Poll[]; skipped: number } {
  const polls: Poll[] = [];
  let skipped = 0;
  for (const { o, line } of jsonObjects(text, file)) {
    const r = qmpPayload(o);
    if (r === null) continue;
    const where: Where = line === null ? {} : { line };
    const ram = r.ram;
    if (ram === undefined) { skipped++; continue; } // status "setup", "none", other replies
    if (typeof ram !== 'object' || ram === null) throw new TraceError(file, where, `"ram" to be an object (query-migrate's MigrationStats), found ${JSON.stringify(ram)}`);
    const m = ram as Record<string, unknown>;
    const rate = m['dirty-pages-rate'];
    if (typeof rate !== 'number' || !(rate >= 0)) throw new TraceError(file, where, `"ram"."dirty-pages-rate" as a number ≥ 0 (pages/s), found ${JSON.stringify(rate)}`);
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    const time = num(r['total-time']) ?? num(o.t_ms) ?? (num(o.host_t) !== null ? num(o.host_t)! * 1000 : null);
    polls.push({ timeMs: time, rate, syncs: num(m['dirty-sync-count']), setupMs: num(r['setup-time']), ramBytes: num(m.total), pageSize: num(m['page-size']), where });
  }
  return { polls, skipped };
}

function fromVirsh(text: string, file: string): { polls: Poll[]; skipped: number } {
  const polls: Poll[] = [];
  let cur: Map<string, string> | null = null;
  let curLine = 0;
  let skipped = 0;
  const size = (v: string | undefined, line: number): number | null => {
    if (v === undefined) return null;
    const m = /^([\d.]+)\s*([a-zA-Z]+)/.exec(v);
    const f = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || f === undefined) throw new TraceError(file, { line }, `a size such as "1.000 GiB", found ${JSON.stringify(v)}`);
    return Number(m[1]) * f;
  };
  const flush = () => {
    if (!cur) return;
    const rate = cur.get('Dirty rate');
    if (rate === undefined) { skipped++; cur = null; return; }
    const rm = /^(\d+)\s*pages\/s/.exec(rate);
    if (!rm) throw new TraceError(file, { line: curLine }, `"Dirty rate: N pages/s" in this job's block, found ${JSON.stringify(rate)}`);
    const te = cur.get('Time elapsed');
    const tm = te !== undefined ? /^(\d+)\s*ms/.exec(te) : null;
    const ps = cur.get('Page size');
    polls.push({
      timeMs: tm ? Number(tm[1]) : null, rate: Number(rm[1]), syncs: cur.has('Iteration') ? Number(cur.get('Iteration')) : null,
      setupMs: cur.has('Setup time') ? Number(/^(\d+)/.exec(cur.get('Setup time')!)?.[1]) : null,
      ramBytes: size(cur.get('Memory total'), curLine), pageSize: ps !== undefined ? Number(/^(\d+)/.exec(ps)?.[1]) : null, where: { line: curLine },
    });
    cur = null;
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const l = raw.trim();
    if (l === '') return;
    const m = /^([A-Za-z][A-Za-z /()-]*?):\s*(.*)$/.exec(l);
    if (!m) throw new TraceError(file, { line: i + 1 }, `virsh domjobinfo output ("Label:   value" lines), found ${preview(l, 60)}`);
    if (m[1] === 'Job type') { flush(); cur = new Map(); curLine = i + 1; }
    if (!cur) { cur = new Map(); curLine = i + 1; }
    cur.set(m[1]!, m[2]!);
  });
  flush();
  return { polls, skipped };
}

/** Rate windows from polls: one per new dirty-pages-rate value, timed by the polls when they can be. */
export function rateWindows(polls: Poll[]): { samples: RateSample[]; timed: boolean } {
  const timed = polls.length > 0 && polls.every((p) => p.timeMs !== null);
  const samples: RateSample[] = [];
  let prevRate = 0;
  let prevAt: number | null = null;
  for (const p of polls) {
    if (prevAt === null && timed) prevAt = p.setupMs ?? p.timeMs!;
    if (p.rate === prevRate) continue;
    // A new value: QEMU updated the rate at a sync since the previous poll.
    const windowMs = timed && prevAt !== null && p.timeMs! - prevAt >= QEMU_RATE_PERIOD_MS / 2 ? p.timeMs! - prevAt : QEMU_RATE_PERIOD_MS;
    if (p.rate > 0) samples.push({ windowMs: Math.round(windowMs), pages: (p.rate * windowMs) / 1000 });
    prevRate = p.rate;
    if (timed) prevAt = p.timeMs!;
  }
  return { samples, timed };
}

async function run(src: TraceInput | DirInput, ctx: ImportContext): Promise<ImportResult> {
  const input = src as TraceInput;
  const o = ctx.options;
  const text = await contentText(input);
  const t = text.trimStart();
  const isJson = t.startsWith('{') || t.startsWith('[');
  if (!isJson && !/^\s*(Job type|Operation|Time elapsed|Dirty rate)\s*:/m.test(text)) {
    throw new TraceError(input.name, { line: 1 }, 'query-migrate replies (JSON, {"return":…} or bare) or virsh domjobinfo output');
  }
  const { polls, skipped } = isJson ? fromJson(text, input.name) : fromVirsh(text, input.name);
  if (polls.length === 0) throw new TraceError(input.name, {}, `query-migrate replies with "ram" statistics (a migration in progress), found none${skipped ? ` (${skipped} replies without them)` : ''}`);
  const given = o['ram-size'] as number | undefined;
  const flagSize = o['page-size'] as number | undefined;
  if (flagSize !== undefined && !validPageSize(flagSize)) throw new RangeError(`--page-size must be ${PAGE_SIZE_RULE}, not ${flagSize}`);
  const told = polls.find((p) => p.pageSize);
  // Checked before the guest's size is taken from it: ram.page-size 0.5 made a 128 MiB guest 2.7·10^8 pages.
  if (flagSize === undefined && told && !validPageSize(told.pageSize)) throw new TraceError(input.name, told.where, `"ram"."page-size" ${PAGE_SIZE_RULE} (or give --page-size), found ${told.pageSize}`);
  const pageSize = flagSize ?? told?.pageSize ?? 4096;
  const ramBytes = given ?? polls.find((p) => p.ramBytes)?.ramBytes ?? null;
  if (ramBytes === null) throw new RangeError('import query-migrate needs --ram-size: the replies do not carry ram.total (Memory total)');
  const nPages = Math.floor(ramBytes / pageSize);
  const { samples, timed } = rateWindows(polls);
  if (samples.length === 0) throw new TraceError(input.name, {}, `a dirty-pages-rate > 0 in at least one reply, found 0 in all ${polls.length} (QEMU reports it from the first sync ≥ 1 s into the migration)`);
  const windowRule = timed
    ? 'each new dirty-pages-rate value: its window is the time since the previous new value (the first from setup-time), by the polls\' total-time — within one poll interval'
    : `each new dirty-pages-rate value over ${QEMU_RATE_PERIOD_MS} ms (QEMU's shortest rate period; the replies carry no time)`;
  return traceFromRates(samples, { nPages, pageSize, nPagesFrom: given !== undefined ? '--ram-size' : 'ram.total / ram.page-size of the replies' }, {
    importer: 'query-migrate', input: input.name, form: isJson ? 'QMP query-migrate JSON' : 'virsh domjobinfo text', polls: polls.length, repliesWithoutRam: skipped,
    reading: `${windowRule}; pages = rate × window (QEMU counts pages newly dirtied between syncs, so a page re-dirtied after being sent counts again); windows of one length: their median`,
  }, ctx);
}

/** The query-migrate importer. */
export const queryMigrate: ImporterSpec = {
  id: 'query-migrate',
  summary: 'polled QMP query-migrate replies (JSON lines or one object, {"return":…} or bare) or virsh domjobinfo text: dirty-pages-rate, not pages — a SYNTHETIC trace fitted to the rate curve',
  input: 'file',
  options: [
    { flag: 'ram-size', kind: 'size', description: 'guest RAM (default: ram.total of the replies)' },
    { flag: 'page-size', kind: 'int', description: 'page size in bytes (default: ram.page-size, else 4096)' },
    ...RATE_OPTIONS,
  ],
  run,
};
