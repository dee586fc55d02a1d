#!/usr/bin/env node
import { runCli } from './program';

// Exit once stdout is flushed: a driver's lingering socket must not keep the command alive.
runCli(process.argv).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`failover: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
