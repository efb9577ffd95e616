/**
 * Turns the native recorder's output (JSON lines, documented at the top of
 * tools/recorder/recorder.c) into epochs of dense page indices and the trace
 * metadata: the address map, the processes, what could not be tracked, and
 * what recording cost per epoch.
 *
 * Pure code: the Node side (native.ts) feeds it lines and stores the epochs
 * it emits; tests feed it hand-made lines.
 */
import { DenseAddressMap, type AddressMap } from './address-map.js';

/** One closed epoch: [t0, t1) in ns from the start of epoch 0, and its written pages as sorted, disjoint dense runs. */
export interface EpochRuns {
  t0: number;
  t1: number;
  /** start, length, start, length, … */
  runs: Uint32Array;
  pages: number;
}

/** A process (address space) of the recording. */
export interface RecordedProcess {
  /** Instance id: a process gets a new one when it execs. */
  id: number;
  pid: number;
  ppid: number;
  comm: string;
  exe: string;
  /** start (the command), fork, exec, spawn (a new process exec'd via vfork/posix_spawn), pid (--pid). */
  why: string;
  startNs: number;
  endNs: number | null;
  /** exit, exec, vanished (address space gone without a flush), or null if still running at the end. */
  end: string | null;
  /** Whether the shim flushed its last writes before it exited. */
  flushedAtExit: boolean;
}

/** A writable range the kernel would not register. */
export interface SkippedRange {
  proc: number;
  pid: number;
  start: string;
  pages: number;
  perms: string;
  name: string;
  /** errno name and text, e.g. EINVAL. */
  error: string;
}

/** Per-epoch cost of recording, and its summary (meta.recorderCost). */
export interface RecorderCost {
  /** Per epoch: ns spent in PAGEMAP_SCAN calls (at the boundary and in between). */
  scanNs: number[];
  /** Per epoch: ns of the boundary that closed it (maps, registering new memory, scans, output). */
  workNs: number[];
  /** Per epoch: ns spent between boundaries attaching new processes and flushing exiting ones. */
  eventNs: number[];
  /** Per epoch: pages tracked (registered writable memory). */
  trackedPages: number[];
  summary: CostSummary;
}

/** What recording cost, in a few numbers (`inspect` prints them). */
export interface CostSummary {
  epochs: number;
  epochMs: number;
  /** The whole boundary per epoch, ms. */
  workMs: Stat;
  /** PAGEMAP_SCAN calls per epoch, ms. */
  scanMs: Stat;
  /** Attaching and flushing processes per epoch, ms. */
  eventMs: Stat;
  /** Mean boundary work as a share of the epoch length. */
  shareOfEpoch: number;
  trackedPages: { median: number; max: number };
  /** CPU time of the native recorder, and of dirtylab's own process while it read the stream (null if unknown). */
  recorderCpuMs: number | null;
  dirtylabCpuMs: number | null;
}

/** Median, 95th percentile, max and mean of a series. */
export interface Stat {
  median: number;
  p95: number;
  max: number;
  mean: number;
}

/** Median, p95 (nearest rank), max and mean. */
export function stat(xs: number[]): Stat {
  if (xs.length === 0) return { median: 0, p95: 0, max: 0, mean: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { median, p95: s[Math.min(n - 1, Math.ceil(0.95 * n) - 1)]!, max: s[n - 1]!, mean: s.reduce((a, b) => a + b, 0) / n };
}

/** Summarise per-epoch costs (ns) into ms figures. */
export function costSummary(c: { scanNs: number[]; workNs: number[]; eventNs: number[]; trackedPages: number[] }, epochNs: number, cpu: { recorderNs: number | null; dirtylabNs: number | null }): CostSummary {
  const ms = (xs: number[]) => xs.map((x) => x / 1e6);
  const work = stat(ms(c.workNs));
  const tracked = stat(c.trackedPages);
  return {
    epochs: c.workNs.length,
    epochMs: epochNs / 1e6,
    workMs: work,
    scanMs: stat(ms(c.scanNs)),
    eventMs: stat(ms(c.eventNs)),
    shareOfEpoch: epochNs > 0 ? work.mean / (epochNs / 1e6) : 0,
    trackedPages: { median: tracked.median, max: tracked.max },
    recorderCpuMs: cpu.recorderNs === null ? null : cpu.recorderNs / 1e6,
    dirtylabCpuMs: cpu.dirtylabNs === null ? null : cpu.dirtylabNs / 1e6,
  };
}

/** The recorder stopped with an error it explained (exec failed, no shim, no permission…). */
export class RecorderFailure extends Error {
  constructor(readonly what: string, message: string) {
    super(message);
    this.name = 'RecorderFailure';
  }
}

type Line = Record<string, unknown>;

const num = (o: Line, k: string): number => {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`recorder output: "${k}" is not a number in ${JSON.stringify(o).slice(0, 200)}`);
  return v;
};
const str = (o: Line, k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : '');
const hex = (page: number, pageSize: number) => '0x' + (page * pageSize).toString(16);

/** Sort dense runs (start, length, … flat) by start and merge overlapping or touching ones. */
export function mergeRuns(flat: number[]): Uint32Array {
  const n = flat.length / 2;
  let order: Uint32Array | null = null;
  for (let i = 1; i < n; i++) {
    if (flat[2 * i]! < flat[2 * i - 2]!) {
      order = new Uint32Array(n);
      for (let k = 0; k < n; k++) order[k] = k;
      order.sort((a, b) => flat[2 * a]! - flat[2 * b]!);
      break;
    }
  }
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = order ? order[k]! : k;
    const s = flat[2 * i]!;
    const e = s + flat[2 * i + 1]!;
    const last = out.length - 2;
    if (last >= 0 && s <= out[last]! + out[last + 1]!) out[last + 1] = Math.max(out[last]! + out[last + 1]!, e) - out[last]!;
    else out.push(s, e - s);
  }
  return Uint32Array.from(out);
}

/** Expand runs (start, length pairs) into sorted page indices. */
export function runsToPageList(runs: Uint32Array): Uint32Array {
  let n = 0;
  for (let i = 1; i < runs.length; i += 2) n += runs[i]!;
  const out = new Uint32Array(n);
  let k = 0;
  for (let i = 0; i < runs.length; i += 2) for (let p = runs[i]!, e = p + runs[i + 1]!; p < e; p++) out[k++] = p;
  return out;
}

/**
 * Consumes the native recorder's lines in order; calls `onEpoch` for each
 * closed epoch. After the "end" line, `meta()` gives the trace metadata.
 */
export class RecordingSession {
  readonly map: DenseAddressMap;
  hello: Line | null = null;
  endLine: Line | null = null;
  readonly processes: RecordedProcess[] = [];
  readonly skipped: SkippedRange[] = [];
  readonly untrackedProcesses: { pid: number; ppid: number; comm: string; pages: number }[] = [];
  /** Pages written before their private mapping was registered (counted as written) and present shared pages of unknown state. */
  preRegistration = { attributedPages: 0, unknownSharedPages: 0 };
  /** Written pages the address map could not place (0 unless the output is inconsistent). */
  unplacedPages = 0;
  readonly cost = { scanNs: [] as number[], workNs: [] as number[], eventNs: [] as number[], trackedPages: [] as number[] };
  epochs = 0;
  zeroScan: { readPages: number; ms: number } | null = null;
  private zeroRuns: number[] = [];
  private pending: number[] = [];
  private readonly procById = new Map<number, RecordedProcess>();

  constructor(private readonly onEpoch: (e: EpochRuns) => void, pageSize = 4096) {
    this.map = new DenseAddressMap(pageSize);
  }

  /** Handle one output line (already parsed). */
  line(o: Line): void {
    switch (o.t) {
      case 'hello':
        this.hello = o;
        break;
      case 'proc': {
        const p: RecordedProcess = {
          id: num(o, 'id'), pid: num(o, 'pid'), ppid: num(o, 'ppid'), comm: str(o, 'comm'), exe: str(o, 'exe'),
          why: str(o, 'why'), startNs: num(o, 'tNs'), endNs: null, end: null, flushedAtExit: false,
        };
        this.processes.push(p);
        this.procById.set(p.id, p);
        break;
      }
      case 'gone': {
        const p = this.procById.get(num(o, 'proc'));
        if (p) { p.end = str(o, 'how'); p.endNs = num(o, 'tNs'); p.flushedAtExit = o.flushed === 1; }
        break;
      }
      case 'map':
        this.map.addMapping({
          proc: num(o, 'proc'), pid: num(o, 'pid'), startPage: num(o, 's'), pages: num(o, 'n'), perms: str(o, 'perms'),
          dev: str(o, 'dev'), ino: num(o, 'ino'), filePage: num(o, 'off'), name: str(o, 'name'),
        });
        this.preRegistration.attributedPages += num(o, 'pre');
        this.preRegistration.unknownSharedPages += num(o, 'unk');
        break;
      case 'skip':
        this.skipped.push({
          proc: num(o, 'proc'), pid: num(o, 'pid'), start: hex(num(o, 's'), this.map.pageSize), pages: num(o, 'n'),
          perms: str(o, 'perms'), name: str(o, 'name'), error: `${str(o, 'err')} (${str(o, 'msg')})`,
        });
        break;
      case 'w':
      case 'zero': {
        const proc = num(o, 'proc');
        const r = o.r;
        if (!Array.isArray(r)) throw new Error(`recorder output: "r" is not an array in a "${o.t}" line`);
        const into = o.t === 'w' ? this.pending : this.zeroRuns;
        for (let i = 0; i + 1 < r.length; i += 2) {
          this.unplacedPages += this.map.translate(proc, r[i] as number, r[i + 1] as number, (s, n) => { into.push(s, n); });
        }
        if (o.t === 'zero') this.zeroScan = { readPages: (this.zeroScan?.readPages ?? 0) + num(o, 'readPages'), ms: (this.zeroScan?.ms ?? 0) + num(o, 'ns') / 1e6 };
        break;
      }
      case 'e': {
        const runs = mergeRuns(this.pending);
        this.pending = [];
        let pages = 0;
        for (let i = 1; i < runs.length; i += 2) pages += runs[i]!;
        this.cost.scanNs.push(num(o, 'scanNs'));
        this.cost.workNs.push(num(o, 'workNs'));
        this.cost.eventNs.push(typeof o.eventNs === 'number' ? o.eventNs : 0);
        this.cost.trackedPages.push(num(o, 'tracked'));
        this.epochs++;
        this.onEpoch({ t0: num(o, 't0'), t1: num(o, 't1'), runs, pages });
        break;
      }
      case 'untracked':
        this.untrackedProcesses.push({ pid: num(o, 'pid'), ppid: num(o, 'ppid'), comm: str(o, 'comm'), pages: num(o, 'pages') });
        break;
      case 'end':
        this.endLine = o;
        break;
      case 'error':
        throw new RecorderFailure(str(o, 'what'), str(o, 'msg'));
      default:
        break; // lines of a newer recorder are ignored
    }
  }

  /** Pages holding zeros at the start (--pid mode's zero scan), sorted; null if no scan ran. */
  zeroAtStart(): Uint32Array | null {
    return this.zeroScan ? runsToPageList(mergeRuns(this.zeroRuns)) : null;
  }

  /** The address map for meta.addressMap. */
  addressMap(): AddressMap {
    return this.map.toJSON();
  }

  /** Writable memory that was not tracked, by kind of reason. */
  untracked(): { ranges: SkippedRange[]; pages: number; processes: { pid: number; ppid: number; comm: string; pages: number }[]; processPages: number } {
    return {
      ranges: this.skipped,
      pages: this.skipped.reduce((s, r) => s + r.pages, 0),
      processes: this.untrackedProcesses,
      processPages: this.untrackedProcesses.reduce((s, p) => s + p.pages, 0),
    };
  }
}
