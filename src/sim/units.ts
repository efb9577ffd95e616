/**
 * Units as people write them (docs/outputs.md): `128MiB/s`, `1Gbit/s`, `32MB/s`,
 * `300ms`, `2s`, `512MiB`. MB = 10^6, MiB = 2^20; a bare number is bytes/s for
 * a bandwidth, ms for a time and bytes for a size, as in QEMU.
 */

/** A value that does not parse; the CLI turns it into exit code 1. */
export class UnitError extends Error {}

const SIZE: Record<string, number> = {
  b: 1, byte: 1, bytes: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
  k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40,
  kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8, tbit: 1e12 / 8, bit: 1 / 8,
  kibit: 2 ** 10 / 8, mibit: 2 ** 20 / 8, gibit: 2 ** 30 / 8,
};

const TIME_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, min: 60000, h: 3600000 };

function split(text: string): [number, string] {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([a-zµ/]*)\s*$/i.exec(text);
  if (!m) throw new UnitError(`"${text}" is not a number with a unit`);
  const v = Number(m[1]);
  if (!Number.isFinite(v)) throw new UnitError(`"${text}" is out of range (a finite number is needed)`);
  return [v, m[2]!.toLowerCase()];
}

/** A bandwidth in bytes/s: `128MiB/s`, `1Gbit/s`, `10Gbps`, or a bare number of bytes/s. */
export function parseBandwidth(text: string, opts: { allowZero?: boolean; noFloor?: boolean } = {}): number {
  const [v, unit] = split(text);
  let u = unit.replace(/\/s$/, '').replace(/ps$/, '');
  if (unit.endsWith('bps') && !unit.endsWith('/s')) u = unit.slice(0, -3) + 'bit';
  const f = u === '' ? 1 : SIZE[u];
  if (f === undefined) throw new UnitError(`"${text}" is not a bandwidth (use e.g. 128MiB/s, 1Gbit/s, 32MB/s or bytes/s)`);
  const bw = v * f;
  if (!Number.isFinite(bw)) throw new UnitError(`"${text}" is out of range (a finite bandwidth is needed)`);
  if (!opts.noFloor && bw < MIN_BANDWIDTH && !(opts.allowZero && bw === 0)) throw new UnitError(`"${text}" is below the smallest bandwidth, 1KiB/s (a migration that slow never ends)`);
  return bw;
}

/** The smallest bandwidth accepted: 1 KiB/s. */
export const MIN_BANDWIDTH = 1024;

/** A duration in ms that must be positive and at least 1 µs (downtime-limit, max-time). */
export function parsePositiveDurationMs(text: string): number {
  const ms = parseDurationMs(text);
  if (!(ms >= 1e-3)) throw new UnitError(`"${text}" must be at least 1µs`);
  return ms;
}

/** A duration in ms: `300ms`, `2s`, `1.5min`, or a bare number of ms. */
export function parseDurationMs(text: string): number {
  const [v, unit] = split(text);
  const f = unit === '' ? 1 : TIME_MS[unit];
  if (f === undefined) throw new UnitError(`"${text}" is not a duration (use e.g. 300ms, 2s, 1min)`);
  const ms = v * f;
  if (!Number.isFinite(ms)) throw new UnitError(`"${text}" is out of range (a finite duration is needed)`);
  return ms;
}

/** A size in bytes: `512MiB`, `1GB`, or a bare number of bytes. */
export function parseSize(text: string): number {
  const [v, unit] = split(text);
  const f = unit === '' ? 1 : SIZE[unit];
  if (f === undefined || unit.endsWith('bit')) throw new UnitError(`"${text}" is not a size (use e.g. 512MiB, 1GB or bytes)`);
  const b = v * f;
  if (!Number.isFinite(b)) throw new UnitError(`"${text}" is out of range (a finite size is needed)`);
  return b;
}

/** "128 MiB/s"-style rendering of a bandwidth. */
export function formatBandwidth(bytesPerSec: number): string {
  if (bytesPerSec >= 2 ** 30) return `${+(bytesPerSec / 2 ** 30).toFixed(2)} GiB/s`;
  if (bytesPerSec >= 2 ** 20) return `${+(bytesPerSec / 2 ** 20).toFixed(2)} MiB/s`;
  return `${+(bytesPerSec / 2 ** 10).toFixed(2)} KiB/s`;
}

/**
 * A downtime-limit schedule, `LIMIT@TIME` steps joined by `/`:
 * `600ms@4s/1200ms@8s` sets downtime-limit to 600 ms 4 s after `migrate` and
 * to 1200 ms at 8 s (Nova's steps, KubeVirt's ramp). `/` keeps it apart from
 * the comma-separated condition lists of compare and grid.
 */
export function parseDowntimeSteps(text: string): { atMs: number; limitMs: number }[] {
  if (text.trim() === '') return [];
  return text.split('/').map((part) => {
    const m = /^\s*([^@]+)@([^@]+)$/.exec(part);
    if (!m) throw new UnitError(`"${part}" is not a downtime step (use LIMIT@TIME, e.g. 600ms@4s; steps joined by /)`);
    return { limitMs: parseDurationMs(m[1]!), atMs: parseDurationMs(m[2]!) };
  });
}

/** `600ms@4s/1200ms@8s`: the text parseDowntimeSteps reads. */
export function formatDowntimeSteps(steps: { atMs: number; limitMs: number }[]): string {
  return steps.map((s) => `${+s.limitMs.toFixed(3)}ms@${+s.atMs.toFixed(3)}ms`).join('/');
}
