#!/usr/bin/env node
// Runs `dirtylab ARGS…` in this process and, at exit, writes its peak RSS to stderr as
// "@@maxrss KIB" (process.resourceUsage().maxRSS): bench/stream and test/cli.stream use it.
process.on('exit', () => process.stderr.write(`\n@@maxrss ${process.resourceUsage().maxRSS}\n`));
const { main } = await import(new URL('../dist/cli/main.js', import.meta.url).href);
process.exitCode = await main([process.argv[0], new URL('../bin/dirtylab.js', import.meta.url).pathname, ...process.argv.slice(2)]);
