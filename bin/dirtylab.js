#!/usr/bin/env node
// The `dirtylab` command: see src/cli/main.ts (built to dist/ by `npm run build`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
