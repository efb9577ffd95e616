/**
 * What a copy method is: an ID, a one-sentence summary, its source, the
 * parameters it registers (kebab-case, QEMU's names where QEMU has them) and
 * a `run` that drives the engine until the guest resumes on the destination
 * or the run is aborted. Adding a method is one file in methods/ and one line
 * in methods/index.ts.
 */
import type { Engine } from './engine.js';
import type { StopReason } from './result.js';
import { parseBandwidth, parseDurationMs, parseSize, UnitError } from './units.js';

/** Kinds of parameter values and how they parse. */
export type ParamKind = 'int' | 'number' | 'percent' | 'duration' | 'size' | 'bandwidth' | 'enum' | 'text';

/** One parameter a method registers. */
export interface ParamSpec {
  name: string;
  kind: ParamKind;
  /** Default, as a user would type it. */
  default: string;
  description: string;
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** What an int or number counts (rounds, pages, MB/s…); other kinds have their unit from the kind (paramUnit). */
  unit?: string;
}

/** The unit a parameter's value is in, for --help: from its kind, or its own for ints and numbers; null for enums and text. */
export function paramUnit(p: ParamSpec): string | null {
  switch (p.kind) {
    case 'duration': return 'ms';
    case 'size': return 'bytes';
    case 'bandwidth': return 'bytes/s';
    case 'percent': return '%';
    case 'int': case 'number': return p.unit ?? null;
    default: return null;
  }
}

/** `(default 300ms; unit ms, or with a unit: 2s)`-style text for --help. */
export function paramDefaultText(p: ParamSpec): string {
  const u = paramUnit(p);
  const withUnit: Record<string, string> = { ms: 'a bare number is ms; or e.g. 300ms, 2s', bytes: 'a bare number is bytes; or e.g. 512MiB', 'bytes/s': 'a bare number is bytes/s; or e.g. 128MiB/s' };
  return u === null ? `default ${p.default}` : `default ${p.default}; unit ${u}${withUnit[u] ? `: ${withUnit[u]}` : ''}`;
}

/** Parsed parameter values: numbers in base units (bytes, bytes/s, ms, %), enums as strings. */
export type Params = Record<string, number | string>;

/** How a run ended. */
export interface RunEnd {
  completed: boolean;
  converged: boolean;
  stopReason: StopReason;
}

/** A copy method. */
export interface MethodSpec {
  id: string;
  summary: string;
  /** Paper section, or QEMU / Xen file and function. */
  source: string;
  /** Where the model is an approximation of its source, in one line (shown by --help). */
  approximation?: string;
  /**
   * The released hypervisor that ships this method today (an operator can
   * turn it on): 'qemu' (QEMU/libvirt), 'xen'; absent for research methods.
   */
  ships?: 'qemu' | 'xen';
  params: readonly ParamSpec[];
  /** Named variants (`id/variant`), selected by the `variant` parameter. */
  variants?: readonly string[];
  run(e: Engine, p: Params): RunEnd;
}

/** Parameters every method takes (the engine's models). */
export const COMMON_PARAMS: readonly ParamSpec[] = [
  { name: 'write-time', kind: 'enum', default: 'uniform', choices: ['uniform', 'start', 'end'], description: 'where writes fall inside an epoch: hashed uniformly, all at its start (pessimistic), all at its end (optimistic)' },
  { name: 'device-state', kind: 'size', default: '0', description: 'device state sent during the downtime (QEMU guests: about 0.1–1 MiB)' },
  { name: 'switchover-fixed', kind: 'duration', default: '0ms', description: 'fixed cost added to the downtime' },
  { name: 'rtt', kind: 'duration', default: '0.5ms', description: 'network round trip (switchover handshake, post-copy requests)' },
];

/** Parameters of QEMU's methods: the dirty-log re-arming rule. */
export const REARM_PARAMS: readonly ParamSpec[] = [
  { name: 'rearm', kind: 'enum', default: 'sync', choices: ['sync', 'chunk'], description: 'when a page becomes dirty for migration again: at each sync (TCG, KVM without manual clearing) or per chunk when the sender enters it (KVM manual clear, QEMU ≥ 4.2)' },
  { name: 'clear-bitmap-shift', kind: 'int', default: '18', min: 6, max: 31, unit: 'log2 pages', description: 'log2 of the pages per re-arm chunk (QEMU clear-bitmap-shift)' },
];

/** A bad --param (unknown name, bad value); the CLI exits 1. */
export class ParamError extends Error {}

/** Parse one value by its spec. */
export function parseParam(spec: ParamSpec, text: string): number | string {
  try {
    switch (spec.kind) {
      case 'text': return text;
      case 'enum':
        if (!spec.choices!.includes(text)) throw new ParamError(`--param ${spec.name} must be one of ${spec.choices!.join(', ')}, not "${text}"`);
        return text;
      case 'duration': return check(spec, parseDurationMs(text), text);
      case 'size': return check(spec, parseSize(text), text);
      case 'bandwidth': return check(spec, parseBandwidth(text, { allowZero: true }), text);
      case 'percent': return check(spec, Number(text.replace(/%$/, '')), text);
      case 'int': {
        const v = Number(text);
        if (!Number.isInteger(v)) throw new ParamError(`--param ${spec.name} must be an integer, not "${text}"`);
        return check(spec, v, text);
      }
      case 'number': return check(spec, Number(text), text);
    }
  } catch (e) {
    if (e instanceof UnitError) throw new ParamError(`--param ${spec.name}: ${e.message}`);
    throw e;
  }
}

function check(spec: ParamSpec, v: number, text?: string): number {
  if (!Number.isFinite(v)) throw new ParamError(`--param ${spec.name} must be a number, not "${text}"`);
  if (spec.min !== undefined && v < spec.min) throw new ParamError(`--param ${spec.name} must be ≥ ${spec.min}, not ${v}`);
  if (spec.max !== undefined && v > spec.max) throw new ParamError(`--param ${spec.name} must be ≤ ${spec.max}, not ${v}`);
  return v;
}

/** All parameters a method takes: its own, then the common ones. */
export function allParams(m: MethodSpec): ParamSpec[] {
  const own = m.variants ? [{ name: 'variant', kind: 'enum' as const, default: m.variants[0]!, choices: m.variants, description: `which reading of the method: ${m.variants.join(', ')}` }, ...m.params] : [...m.params];
  return [...own, ...COMMON_PARAMS];
}

/** Parse `--param k=v` pairs for a method, filling in defaults; unknown names are an error. */
export function resolveParams(m: MethodSpec, given: Record<string, string>): Params {
  const specs = allParams(m);
  const out: Params = {};
  for (const s of specs) out[s.name] = parseParam(s, s.default);
  for (const [k, v] of Object.entries(given)) {
    const s = specs.find((x) => x.name === k);
    if (!s) throw new ParamError(`method ${m.id} takes no parameter "${k}"; it takes: ${specs.map((x) => x.name).join(', ')}`);
    out[k] = parseParam(s, v);
  }
  return out;
}
