/**
 * QEMU's dirty-rate measurements (`calc-dirty-rate`, then `query-dirty-rate`)
 * as QMP returns them — one object, a JSON array or JSON lines, wrapped
 * (`{"return": {…}}`) or bare — and the same figures as text: libvirt's
 * `virsh domstats --dirtyrate` and HMP's `info dirty_rate`.
 *
 * Each measured result is a window: `dirty-rate` MiB/s over `calc-time`
 * seconds (milliseconds when `calc-time-unit` says so), i.e.
 * dirty-rate × 2^20 / page size × calc-time distinct pages dirtied in that
 * window (page-sampling compares page hashes at its start and end). Results
 * still measuring are skipped. These are rates, not pages: the samples become
 * a dirty-rate curve and a synthetic trace (src/trace/import/rates.ts).
 * The guest's size comes from `--ram-size`, or from a `base-memory`
 * (query-memory-size-summary) or `ram.total` (query-migrate) object in the
 * same input.
 */
import type { TraceInput } from '../bytes.js';
import { TraceError, type Where } from '../model.js';
import { contentText, pageShift, type DirInput, type ImportContext, type ImportResult, type ImporterSpec, preview } from './common.js';
import { RATE_OPTIONS, traceFromRates, type RateSample } from './rates.js';

/** JSON documents of an input: one document (object or array), or JSON lines; each with its line. */
export function jsonObjects(text: string, file: string): { o: Record<string, unknown>; line: number | null }[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  try {
    const doc = JSON.parse(text) as unknown;
    const list = Array.isArray(doc) ? doc : [doc];
    return list.map((o, i) => {
      if (!isObj(o)) throw new TraceError(file, {}, `JSON objects, found ${JSON.stringify(o).slice(0, 40)} as item ${i + 1}`);
      return { o, line: null };
    });
  } catch (e) {
    if (e instanceof TraceError) throw e;
  }
  const out: { o: Record<string, unknown>; line: number | null }[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch {
      throw new TraceError(file, { line: i + 1 }, 'one JSON object (a QMP reply, {"return": {…}} or bare) per line, or one JSON document');
    }
    if (!isObj(o)) throw new TraceError(file, { line: i + 1 }, 'a JSON object per line');
    out.push({ o, line: i + 1 });
  });
  return out;
}

/** The QMP payload of an object: its "return" when wrapped; null for events, greetings and empty replies. */
export function qmpPayload(o: Record<string, unknown>): Record<string, unknown> | null {
  if ('event' in o || 'QMP' in o || 'error' in o) return null;
  const r = 'return' in o ? o.return : o;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || Object.keys(r).length === 0) return null;
  return r as Record<string, unknown>;
}

interface Parsed {
  samples: RateSample[];
  skipped: number;
  ramBytes: number | null;
  form: string;
}

function fromJson(text: string, file: string, pageSize: number): Parsed {
  const samples: RateSample[] = [];
  let skipped = 0;
  let ramBytes: number | null = null;
  for (const { o, line } of jsonObjects(text, file)) {
    const r = qmpPayload(o);
    if (r === null) continue;
    const where: Where = line === null ? {} : { line };
    if (typeof r['base-memory'] === 'number') ramBytes = r['base-memory'];
    const ram = r.ram as Record<string, unknown> | undefined;
    if (ram && typeof ram.total === 'number') ramBytes ??= ram.total;
    if (!('dirty-rate' in r) && !('calc-time' in r)) { skipped++; continue; }
    if (r.status !== undefined && r.status !== 'measured') { skipped++; continue; }
    const rate = r['dirty-rate'];
    const time = r['calc-time'];
    if (typeof rate !== 'number' || !(rate >= 0) || typeof time !== 'number' || !(time > 0)) {
      throw new TraceError(file, where, `a measured query-dirty-rate result with "dirty-rate" (MiB/s, ≥ 0) and "calc-time" (> 0), found ${JSON.stringify(r).slice(0, 120)}`);
    }
    const unit = r['calc-time-unit'];
    const windowMs = unit === 'millisecond' ? time : time * 1000;
    samples.push({ windowMs, pages: (rate * 2 ** 20 * (windowMs / 1000)) / pageSize });
  }
  return { samples, skipped, ramBytes, form: 'QMP query-dirty-rate JSON' };
}

function fromText(text: string, file: string, pageSize: number): Parsed {
  const samples: RateSample[] = [];
  let skipped = 0;
  const lines = text.split(/\r?\n/);
  if (lines.some((l) => /^\s*dirtyrate\./.test(l))) {
    // virsh domstats --dirtyrate: "Domain: 'x'" blocks of key=value lines.
    let block: Map<string, string> | null = null;
    let blockLine = 0;
    const flush = () => {
      if (!block) return;
      const status = block.get('dirtyrate.calc_status');
      const mbps = block.get('dirtyrate.megabytes_per_second');
      const period = block.get('dirtyrate.calc_period');
      if (status !== '2' || mbps === undefined) { skipped++; block = null; return; }
      const rate = Number(mbps);
      const s = Number(period);
      if (!(rate >= 0) || !(s > 0)) throw new TraceError(file, { line: blockLine }, `dirtyrate.megabytes_per_second ≥ 0 and dirtyrate.calc_period > 0 in this domain's block, found ${mbps} and ${period}`);
      samples.push({ windowMs: s * 1000, pages: (rate * 2 ** 20 * s) / pageSize });
      block = null;
    };
    lines.forEach((raw, i) => {
      const l = raw.trim();
      if (l === '') return;
      if (/^Domain:/.test(l)) { flush(); block = new Map(); blockLine = i + 1; return; }
      const m = /^([\w.]+)=(.*)$/.exec(l);
      if (!m) throw new TraceError(file, { line: i + 1 }, `virsh domstats output: "Domain: 'NAME'" lines and "key=value" lines, found ${preview(l, 60)}`);
      if (!block) { block = new Map(); blockLine = i + 1; }
      block.set(m[1]!, m[2]!);
    });
    flush();
    return { samples, skipped, ramBytes: null, form: 'virsh domstats --dirtyrate' };
  }
  if (lines.some((l) => /^\s*Dirty rate:/.test(l))) {
    // HMP info dirty_rate: "Status:", "Period: N (sec)" or "Calculation time: N (ms)", "Dirty rate: N (MB/s)".
    let status: string | null = null;
    let windowMs: number | null = null;
    lines.forEach((raw, i) => {
      const l = raw.trim();
      let m: RegExpExecArray | null;
      if ((m = /^Status:\s*(\S+)/.exec(l))) { status = m[1]!; windowMs = null; }
      else if ((m = /^(?:Period|Calculation time):\s*([\d.]+)\s*\((sec|ms)\)/.exec(l))) windowMs = Number(m[1]) * (m[2] === 'sec' ? 1000 : 1);
      else if ((m = /^Dirty rate:\s*(.*)$/.exec(l))) {
        const v = /^([\d.]+)\s*\(MB\/s\)/.exec(m[1]!);
        if (status !== 'measured' || !v) { skipped++; return; }
        if (windowMs === null) throw new TraceError(file, { line: i + 1 }, 'a "Period: N (sec)" or "Calculation time: N (ms)" line before "Dirty rate:"');
        samples.push({ windowMs, pages: (Number(v[1]) * 2 ** 20 * (windowMs / 1000)) / pageSize });
      }
    });
    return { samples, skipped, ramBytes: null, form: 'HMP info dirty_rate' };
  }
  throw new TraceError(file, { line: 1 }, 'query-dirty-rate JSON (QMP), virsh domstats --dirtyrate output or HMP info dirty_rate output');
}

async function run(src: TraceInput | DirInput, ctx: ImportContext): Promise<ImportResult> {
  const input = src as TraceInput;
  const o = ctx.options;
  const pageSize = (o['page-size'] as number | undefined) ?? 4096;
  pageShift(pageSize);
  const text = await contentText(input);
  const t = text.trimStart();
  const p = t.startsWith('{') || t.startsWith('[') ? fromJson(text, input.name, pageSize) : fromText(text, input.name, pageSize);
  if (p.samples.length === 0) throw new TraceError(input.name, {}, `at least one measured dirty rate (status "measured"), found none${p.skipped ? ` (${p.skipped} results still measuring or of other commands)` : ''}`);
  const given = o['ram-size'] as number | undefined;
  const ramBytes = given ?? p.ramBytes;
  if (ramBytes === null || ramBytes === undefined) throw new RangeError(`import calc-dirty-rate needs --ram-size (the guest's RAM, e.g. 4GiB): ${p.form} does not say how large the guest is`);
  const nPages = Math.floor(ramBytes / pageSize);
  if (nPages < 1) throw new RangeError(`--ram-size must be at least one page, not ${ramBytes} B`);
  return traceFromRates(p.samples, { nPages, pageSize, nPagesFrom: given !== undefined ? '--ram-size' : 'the input\'s base-memory / ram.total' }, {
    importer: 'calc-dirty-rate', input: input.name, form: p.form, measurements: p.samples.length, skipped: p.skipped,
    reading: 'each measurement: dirty-rate (MiB/s) × calc-time = distinct pages dirtied in a window of calc-time; several of one length: their median',
  }, ctx);
}

/** The calc-dirty-rate importer. */
export const calcDirtyRate: ImporterSpec = {
  id: 'calc-dirty-rate',
  summary: 'QEMU calc-dirty-rate results (query-dirty-rate JSON: one object or JSON lines, {"return":…} or bare), virsh domstats --dirtyrate or HMP info dirty_rate text: rates, not pages — a SYNTHETIC trace fitted to the rate curve',
  input: 'file',
  options: [
    { flag: 'ram-size', kind: 'size', description: 'guest RAM, e.g. 4GiB (required unless the input has a base-memory or ram.total object)' },
    { flag: 'page-size', kind: 'int', description: 'page size in bytes (default 4096)' },
    ...RATE_OPTIONS,
  ],
  run,
};
