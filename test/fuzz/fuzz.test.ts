// The in-suite fuzz run (issue 15 item 12): every reader, seeded mutations, a
// fixed small budget (≤ 3 s a target, under 60 s in all). Long campaigns:
// `npm run fuzz -- --cases N`. Runs on dist/ (built by pretest).
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { campaign, targets } from '../../scripts/fuzz-core.mjs';

type Target = { name: string };
const ts = (await targets()) as Target[] & { cleanup(): void; TraceError: unknown };
// At most 3 s a target and 50 s in all (15 targets: 45 s).
const BUDGET_MS = Number(process.env.DIRTYLAB_FUZZ_MS ?? Math.min(3000, Math.floor(50_000 / ts.length)));

describe('fuzz: mutated inputs end in a clean refusal, never a crash or a hang', () => {
  it.each(ts.map((t) => [t.name, t] as const))('%s', async (_name, t) => {
    const r = await campaign(t, { cases: 400, seed: 15, budgetMs: BUDGET_MS, slowMs: 5000, cpuHangs: true, TraceError: ts.TraceError });
    expect(r.crashes).toEqual([]);
    expect(r.hangs).toEqual([]);
    expect(r.cases).toBeGreaterThan(0);
  }, 60_000);
  it('cleans up', () => ts.cleanup());
});
