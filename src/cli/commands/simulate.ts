import fs from 'node:fs';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { policyOf } from '../../domain/config';
import { formatSimulation, simulate } from '../../domain/simulate';
import { usageError } from '../errors';
import type { Cli } from '../session';

/** `failover simulate <service> <scenario>`: the real decision logic over a scripted scenario, offline. */
export function registerSimulate(program: Command, cli: Cli): void {
  program
    .command('simulate')
    .description('run the detection, failover, redundancy and distribution logic over a scripted scenario and print every decision; touches nothing')
    .argument('<service>', 'service name from the config')
    .argument('<scenario>', 'YAML/JSON file: a list of {at: "10s", destination: x, event: down|up|degrade, latencyMs?} or {events: [...], duration?, routing?}')
    .addHelpText(
      'after',
      '\nExample scenario:\n  - { at: 10s, destination: redis-a, event: down }\n  - { at: 20s, destination: redis-b, event: degrade, latencyMs: 400 }\n  - { at: 40s, destination: redis-a, event: up }',
    )
    .action((name: string, file: string, _flags: unknown, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        let text: string;
        try {
          text = fs.readFileSync(file, 'utf8');
        } catch (err) {
          throw usageError(`scenario: cannot read ${file}: ${(err as Error).message}`);
        }
        const doc = parseDocument(text);
        if (doc.errors.length > 0) throw usageError(`scenario ${file}: YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
        // Bad scenarios raise InvalidInputError naming the field, which the CLI reports as a usage error.
        const result = simulate({ service, policy: policyOf(ctx.config(), service.name), scenario: doc.toJS() });
        ctx.emit(result, () => formatSimulation(result));
      }),
    );
}
