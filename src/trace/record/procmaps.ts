/**
 * /proc/PID/maps, and choosing the mapping `dirtylab record --pid PID
 * --mapping SIZE|ADDR` records: by its start address, or by its size — for a
 * QEMU guest the RAM block, whose mapping is the guest's RAM size rounded up
 * by QEMU (e.g. -m 262148k is a mapping of 268,443,648 bytes: one page more).
 * Pure code on the maps text (the CLI parses the SIZE with its units).
 */

/** One line of /proc/PID/maps. */
export interface MapsEntry {
  start: number;
  end: number;
  perms: string;
  /** File offset in bytes (0 for anonymous memory). */
  offset: number;
  dev: string;
  inode: number;
  /** Path, [heap], [stack]…, or "" for anonymous memory. */
  name: string;
}

/** Parse the text of /proc/PID/maps. */
export function parseMaps(text: string): MapsEntry[] {
  const out: MapsEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, offset: parseInt(m[4]!, 16), dev: m[5]!, inode: Number(m[6]), name: m[7]! });
  }
  return out;
}

/** A --mapping argument: a size in bytes or a page-aligned start address; `text` as the user wrote it. */
export type MappingSpec = { text: string; size: number } | { text: string; address: number };

/** Slack allowed between a SIZE and the mapping that holds it (QEMU rounds and aligns its RAM blocks). */
export const SIZE_SLACK_BYTES = 2 * 2 ** 20;

/** The range chosen for one --mapping. */
export interface ChosenMapping {
  spec: string;
  entry: MapsEntry;
  /** Start address of the recorded range (the mapping's start). */
  start: number;
  pages: number;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(b % 2 ** 20 ? 2 : 0)} MiB`;
const describe = (e: MapsEntry) => `0x${e.start.toString(16)}-0x${e.end.toString(16)} ${e.perms} ${mib(e.end - e.start)}${e.name ? ' ' + e.name : ''}`;

/**
 * The writable mapping a spec names: by ADDR, the one starting there (all of
 * it); by SIZE, the one whose length is SIZE or at most SIZE_SLACK_BYTES more
 * (the closest; the first ceil(SIZE / 4096) pages are recorded). Throws a
 * RangeError naming the candidates when there is none or more than one.
 */
export function chooseMapping(entries: MapsEntry[], spec: MappingSpec, pid: number, pageSize = 4096): ChosenMapping {
  const writable = entries.filter((e) => e.perms[1] === 'w');
  const big = writable.filter((e) => e.end - e.start >= 2 ** 20).map(describe);
  const listing = big.length ? `; writable mappings of 1 MiB or more: ${big.slice(0, 8).join(', ')}${big.length > 8 ? ', …' : ''}` : '';
  if ('address' in spec) {
    const e = writable.find((x) => x.start === spec.address);
    if (!e) {
      const inside = entries.find((x) => x.start <= spec.address && spec.address < x.end);
      const hint = inside ? ` (it lies inside ${describe(inside)})` : '';
      throw new RangeError(`process ${pid} has no writable mapping starting at ${spec.text}${hint}${listing}`);
    }
    return { spec: spec.text, entry: e, start: e.start, pages: (e.end - e.start) / pageSize };
  }
  const fits = writable.filter((e) => e.end - e.start >= spec.size && e.end - e.start - spec.size <= SIZE_SLACK_BYTES);
  if (fits.length === 0) throw new RangeError(`process ${pid} has no writable mapping of ${spec.text} (${spec.size} bytes, up to 2 MiB more)${listing}`);
  const best = Math.min(...fits.map((e) => e.end - e.start));
  const same = fits.filter((e) => e.end - e.start === best);
  if (same.length > 1) throw new RangeError(`process ${pid} has ${same.length} writable mappings of that size: ${same.map(describe).join(', ')}; choose one with --mapping 0x…`);
  const e = same[0]!;
  return { spec: spec.text, entry: e, start: e.start, pages: Math.ceil(spec.size / pageSize) };
}
