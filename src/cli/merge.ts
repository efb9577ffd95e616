/**
 * `dirtylab merge`.
 */
import { finishComparison } from './compare.js';
import { Command } from 'commander';
import { TraceError } from '../trace/model.js';
import '../sim/profiles.js';
import { readFileSync as readFile, existsSync as exists } from 'node:fs';
import { gridCells, type CompareSpec, type RunRow } from '../stats/compare.js';
import { join as joinPath } from 'node:path';
import { UsageError, loadTraces, closeTraces, type Out } from './common.js';
import { sameFile } from '../trace/node.js';

/** What differs between two comparison definitions, for merge's refusal. */
function diffSpec(a: CompareSpec, b: CompareSpec): string {
  const keys = Object.keys(a) as (keyof CompareSpec)[];
  const d = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return d.map((k) => `${k} ${JSON.stringify(b[k])} vs ${JSON.stringify(a[k])}`).join('; ').slice(0, 300);
}


/** Register `dirtylab merge`. */
export function registerMerge(program: Command, out: Out): void {
  program
    .command('merge')
    .description('combine the runs.jsonl of compare --shard runs into exactly the outputs one machine would have written')
    .argument('<dir...>', 'shard output directories')
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'print the summary as JSON')
    .action(async (dirs: string[], o: { out: string; json?: boolean }) => {
      for (const d of dirs) {
        if (sameFile(d, o.out)) throw new UsageError(`--out ${o.out} is one of the shard directories (${d}): merge into a new directory, never over its inputs`);
      }
      let spec: CompareSpec | null = null;
      let specText = '';
      const runs: RunRow[] = [];
      for (const d of dirs) {
        const file = joinPath(d, 'runs.jsonl');
        if (!exists(file)) throw new TraceError(file, {}, 'an existing file: a shard directory holds runs.jsonl');
        readFile(file, 'utf8').split('\n').forEach((line, i) => {
          if (line.trim() === '') return;
          let row: RunRow & { spec: CompareSpec };
          try {
            row = JSON.parse(line);
          } catch {
            throw new TraceError(file, { line: i + 1 }, 'a JSON object per line');
          }
          const st = JSON.stringify(row.spec);
          if (spec === null) { spec = row.spec; specText = st; }
          else if (st !== specText) {
            throw new TraceError(file, { line: i + 1 }, `the same comparison as the other shards (same dirtylab version, traces, methods, conditions, parameters and seed); this run differs: ${diffSpec(spec, row.spec)}`);
          }
          const { spec: _s, ...rest } = row;
          runs.push(rest as RunRow);
        });
      }
      if (spec === null) throw new TraceError(dirs[0]!, {}, 'at least one run in the shards');
      const s: CompareSpec = spec;
      const traces = await loadTraces(s.traces.map((t) => (t as { path?: string }).path ?? t.name));
      try {
        traces.forEach((t, i) => {
          if (t.sha256 !== s.traces[i]!.sha256) throw new TraceError((s.traces[i] as { path?: string }).path ?? t.name, {}, `the trace the shards ran (SHA-256 ${s.traces[i]!.sha256}), found ${t.sha256}`);
          t.name = s.traces[i]!.name;
        });
        const total = gridCells(s, traces).length;
        const seen = new Set<number>();
        for (const r of runs) {
          if (seen.has(r.index)) throw new TraceError(dirs.join(', '), {}, `each grid run once, found run ${r.index} twice`);
          seen.add(r.index);
        }
        if (seen.size !== total) throw new TraceError(dirs.join(', '), {}, `all ${total} runs of the grid, found ${seen.size} (a shard is missing)`);
        runs.sort((a, b) => a.index - b.index); // the canonical grid order, as one machine writes it
        await finishComparison({ spec: s, runs, total }, traces, { json: o.json, out: o.out }, out.log);
      } finally {
        closeTraces(traces);
      }
    });
}
