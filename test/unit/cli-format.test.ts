import { describe, expect, it } from 'vitest';
import { ServiceBusyError } from '../../src/client/start-runbook';
import { failoverInputSchema } from '../../src/domain/runbook-input';
import { InvalidInputError } from '../../src/domain/validation';
import { MUTATING_RUNBOOKS } from '../../src/domain/workflow-ids';
import { limitSchema, parseArg, parseRunbookInput } from '../../src/cli/args';
import { historyQuery } from '../../src/cli/commands/history';
import { CliError, EXIT, toCliError } from '../../src/cli/errors';
import { fmtDuration, fmtRpo, fmtTime, table } from '../../src/cli/format';
import { resolveSettings } from '../../src/cli/session';
import { historyView, outcomeView, servicesView, statusView, type ServiceSummary, type StatusReport } from '../../src/cli/views';
import type { RunbookStatus } from '../../src/api/status';

const usage = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('cli formatting primitives', () => {
  it('durations, times, RPO and tables', () => {
    expect(fmtDuration(850)).toBe('850ms');
    expect(fmtDuration(1250)).toBe('1.25s');
    expect(fmtDuration(125_000)).toBe('2m05s');
    expect(fmtTime('2025-03-01T10:04:05.123Z')).toBe('2025-03-01T10:04:05Z');
    expect(fmtTime(undefined)).toBe('-');
    expect(fmtRpo({ lag: null, note: 'source down' })).toBe('unknown (source down)');
    expect(fmtRpo({ lag: 0, note: 'fenced' })).toBe('0 (fenced)');
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xyz', '1'],
          ['q', ''],
        ],
      ),
    ).toEqual(['A    LONGER', 'xyz  1', 'q']);
  });
});

describe('cli views', () => {
  const service: ServiceSummary = {
    name: 'orders-bus',
    description: 'order events',
    router: 'haproxy 127.0.0.1:16389 backend orders',
    destinations: [
      { id: 'redis-a', zone: 'z1', region: 'r1', tier: 0, weight: 100 },
      { id: 'redis-b', zone: 'z2', region: 'r1', tier: 1, weight: 50 },
    ],
    routing: {
      generation: 3,
      weights: { 'redis-a': 0, 'redis-b': 50 },
      primary: 'redis-b',
      detail: { 'redis-a': { state: 'maint', weight: 1, up: false }, 'redis-b': { state: 'ready', weight: 50, up: false } },
    },
    runbook: { type: 'failover', workflowId: 'runbook-orders-bus', runId: 'r-1', startTime: '2025-03-01T10:00:00.000Z', trigger: 'detection' },
  };

  it('services: routing, runbook and one row per destination; unreadable parts are said so', () => {
    const text = servicesView([
      service,
      {
        ...service,
        name: 'other',
        routing: undefined,
        routingError: 'connect ECONNREFUSED',
        runbook: undefined,
        runbookError: 'cannot reach Temporal',
      } as ServiceSummary,
    ]);
    expect(text).toContain('orders-bus — order events');
    expect(text).toContain('routing  [redis-a=0 redis-b=50] gen 3, traffic on redis-b');
    expect(text).toContain('runbook  failover running since 2025-03-01T10:00:00Z (runbook-orders-bus, run r-1, trigger detection)');
    // A server in maintenance is not health-checked; a ready one failing its check is flagged.
    expect(text).toMatch(/redis-a\s+z1\s+r1\s+0\s+100\s+0\s+maint\n/);
    expect(text).toMatch(/redis-b\s+z2\s+r1\s+1\s+50\s+50\s+ready \(check down\)/);
    expect(text).toContain('routing  unavailable: connect ECONNREFUSED');
    expect(text).toContain('runbook  unknown (cannot reach Temporal)');
  });

  const status = (patch: Partial<RunbookStatus>): StatusReport => ({
    service: 'orders-bus',
    detection: null,
    runbook: {
      type: 'failover',
      workflowId: 'runbook-orders-bus',
      runId: 'r-2',
      startTime: '2025-03-01T10:00:00Z',
      status: {
        runbook: 'failover',
        service: 'orders-bus',
        phase: 'switching',
        step: 'promote target',
        source: 'redis-a',
        target: 'redis-b',
        planned: true,
        controls: { paused: false },
        startedAt: '2025-03-01T10:00:00Z',
        steps: [
          { name: 'fence source', outcome: 'ok', startedAt: '', detail: 'CLIENT PAUSE' },
          { name: 'promote target', outcome: 'running', startedAt: '' },
        ],
        ...patch,
      },
    },
  });

  it('status: phase, move, controls with the command to answer them, steps', () => {
    const waiting = statusView(
      status({
        phase: 'awaiting-approval',
        step: 'approval',
        controls: {
          paused: true,
          pausedBy: 'carol',
          awaitingApproval: { reason: 'lag 5 exceeds the bound 1', since: '2025-03-01T10:00:01Z', timeout: '10m', defaultAction: 'abort' },
        },
      }),
    );
    expect(waiting).toContain('detection  not running');
    expect(waiting).toContain('runbook    failover (planned): phase awaiting-approval, step approval');
    expect(waiting).toContain('move     redis-a → redis-b');
    expect(waiting).toContain('awaiting approval since 2025-03-01T10:00:01Z: lag 5 exceeds the bound 1 (after 10m: abort)');
    expect(waiting).toContain('approve: failover approve orders-bus');
    expect(waiting).toContain('paused by carol; resume: failover resume orders-bus');
    expect(waiting).toContain('    ✔ fence source — CLIENT PAUSE\n    ▶ promote target');

    // Printed commands start the way the CLI was run.
    expect(statusView(status({ controls: { paused: true, pausedBy: 'carol' } }), 'npm run -s cli -- --config config/example.yaml')).toContain(
      'paused by carol; resume: npm run -s cli -- --config config/example.yaml resume orders-bus',
    );
    // A maintenance runbook shows its window and when the hold ends; an exceeded RTO objective is said.
    const held = statusView(
      status({
        phase: 'holding',
        maintenance: { destination: 'redis-a', window: '30m', stage: 'hold', windowEndsAt: '2025-03-01T10:30:00Z' },
      } as Partial<RunbookStatus>),
    );
    expect(held).toContain('  window   redis-a drained for 30m, stage hold; window ends 2025-03-01T10:30:00Z');
    expect(statusView(status({ objective: { maxFailoverTime: '60s', exceeded: true } }))).toContain('objective max_failover_time 60s EXCEEDED (alert raised)');

    const idle = statusView({
      service: 'orders-bus',
      detection: null,
      runbook: null,
      last: { type: 'rollback', status: 'FAILED', closeTime: '2025-03-01T11:00:00Z' },
    });
    expect(idle).toBe('orders-bus\ndetection  not running\nrunbook    idle (last: rollback failed at 2025-03-01T11:00:00Z)');
  });

  it('outcome: RTO/RPO and steps of a completed run; type and message of a failed one', () => {
    const done = outcomeView({
      service: 'orders-bus',
      kind: 'switchover',
      workflowId: 'runbook-orders-bus',
      runId: 'r-3',
      status: 'completed',
      result: {
        outcome: 'switched',
        source: 'redis-a',
        target: 'redis-b',
        rtoMs: 1063,
        rpo: { lag: 0, note: 'fenced' },
        routingBefore: { generation: 0, weights: { 'redis-a': 100, 'redis-b': 0 } },
        routingAfter: { generation: 1, weights: { 'redis-a': 0, 'redis-b': 100 } },
        steps: [{ name: 'switch routing', outcome: 'ok', startedAt: '' }],
      },
    });
    expect(done.split('\n')).toEqual([
      'switchover of orders-bus: switched redis-a → redis-b',
      '  run      runbook-orders-bus r-3',
      '  RTO      1.06s',
      '  RPO      0 (fenced)',
      '  routing  [redis-a=100 redis-b=0] gen 0 → [redis-a=0 redis-b=100] gen 1',
      '  steps',
      '    ✔ switch routing',
    ]);
    const failed = outcomeView({
      service: 'orders-bus',
      kind: 'failover',
      workflowId: 'w',
      runId: 'r',
      status: 'failed',
      failure: { type: 'TargetDown', message: 'target redis-b is down' },
    });
    expect(failed).toBe('failover of orders-bus failed (TargetDown): target redis-b is down\n  run w r');
  });

  it('history: a row per run, switchovers named as such, failures shortened', () => {
    expect(historyView('orders-bus', [])).toBe('no runbooks recorded for orders-bus');
    const text = historyView('orders-bus', [
      {
        workflowId: 'w',
        runId: 'r-5',
        type: 'failover',
        status: 'COMPLETED',
        trigger: 'manual',
        planned: true,
        startTime: '2025-03-01T10:00:00Z',
        closeTime: '2025-03-01T10:00:02Z',
        outcome: 'switched',
        source: 'redis-a',
        target: 'redis-b',
        rtoMs: 1500,
        rpo: { lag: null, note: 'source down' },
      },
      { workflowId: 'w', runId: 'r-4', type: 'rollback', status: 'FAILED', startTime: '2025-03-01T09:00:00Z', failure: `TargetDown: ${'x'.repeat(100)}` },
    ]);
    const [header, first, second] = text.split('\n');
    expect(header).toMatch(/^STARTED\s+CLOSED\s+KIND\s+TRIGGER\s+STATUS\s+OUTCOME\s+RTO\s+RPO\s+RUN$/);
    expect(first).toMatch(/switchover\s+manual\s+completed\s+switched redis-a → redis-b\s+1\.5s\s+unknown\s+r-5$/);
    expect(second).toMatch(/rollback\s+-\s+failed\s+TargetDown: x+…\s+-\s+-\s+r-4$/);
  });
});

describe('cli arguments and errors', () => {
  it('names the argument and the value it rejects', () => {
    expect(parseArg(limitSchema, '25', '--limit')).toBe(25);
    expect(usage(() => parseArg(limitSchema, 'ten', '--limit'))).toBe('--limit: expected a whole number from 1 to 1000 (got "ten")');
    expect(usage(() => parseArg(limitSchema, '1001', '--limit'))).toBe('--limit: expected a whole number from 1 to 1000 (got "1001")');
    expect(usage(() => parseRunbookInput(failoverInputSchema, { service: 's', to: '', actor: 'a' }))).toMatch(/^--to: expected a non-empty name \(got ""\)/);
    expect(usage(() => parseRunbookInput(failoverInputSchema, { service: 's', actor: 'a'.repeat(201) }))).toMatch(/^--by: /);
  });

  it('settings: flags over environment over defaults; bad values name the flag or variable', () => {
    // The config file is looked up when a command needs it (--config, $FAILOVER_CONFIG, the documented default).
    expect(resolveSettings({}, {})).toMatchObject({
      configFile: undefined,
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'failover-manager',
      json: false,
    });
    expect(resolveSettings({ taskQueue: 'q1' }, { TEMPORAL_TASK_QUEUE: 'q2', TEMPORAL_ADDRESS: 'h:1' })).toMatchObject({ taskQueue: 'q1', address: 'h:1' });
    expect(usage(() => resolveSettings({ address: 'nowhere' }, {}))).toBe('--address: expected "host:port" (got "nowhere")');
    expect(() => resolveSettings({}, { TEMPORAL_ADDRESS: 'nowhere' })).toThrow(/TEMPORAL_ADDRESS: expected "host:port"/);
  });

  it('maps failures to exit codes', () => {
    const busy = toCliError(
      new ServiceBusyError('orders-bus', { workflowId: 'runbook-orders-bus', runId: 'r-9', type: 'recovery', startTime: new Date('2025-03-01T10:00:00Z') }),
    );
    expect(busy.exitCode).toBe(EXIT.busy);
    expect(busy.message).toContain('recovery runbook-orders-bus (run r-9');
    expect(busy.details).toMatchObject({ running: { runId: 'r-9', startTime: '2025-03-01T10:00:00.000Z' } });
    expect(toCliError(new InvalidInputError('config x', ['a: bad'])).exitCode).toBe(EXIT.usage);
    expect(toCliError(Object.assign(new Error('wrapped'), { cause: Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 }) })).exitCode).toBe(
      EXIT.unreachable,
    );
    expect(toCliError(new Error('something else')).exitCode).toBe(EXIT.failed);
  });

  it('history asks visibility for the service mutating runbooks or its lock id', () => {
    const q = historyQuery('orders-bus');
    expect(q).toMatch(/^\(Service = "orders-bus" AND RunbookKind IN \("failover", "recovery", "rollback", [^)]*\)\) OR WorkflowId = "runbook-orders-bus"$/);
    for (const kind of MUTATING_RUNBOOKS) expect(q).toContain(`"${kind}"`);
    expect(q).not.toContain('"detection"');
  });
});
