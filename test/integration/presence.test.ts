import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presenceWorkflowId, type PresenceEnd } from '../../src/api/presence';
import { keepPresence } from '../../src/presence-keeper';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { until } from '../support/wait';
import { stopAndReplayTaskQueue } from '../support/histories';

/**
 * A worker's presence as the worker keeps it: started by the worker itself, renewed waits do not
 * start another, one that ends while the worker runs is started again, a graceful stop ends it.
 */
describe('worker presence', () => {
  let h: TemporalHarness;
  let closed = false;
  beforeAll(async () => {
    h = await temporalHarness(() => ({ failover_manager: {}, services: [] }) as never);
  });
  afterAll(async () => {
    if (!closed) await h?.close();
  });

  const runs = async (workflowId: string) => {
    const found: { runId: string; status: string }[] = [];
    for await (const w of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push({ runId: w.runId, status: w.status.name });
    return found;
  };

  it('the worker keeps its own presence: one run, renewed without another, started again after it ends', async () => {
    // The harness's worker started its presence by itself.
    await until(
      async () => {
        for await (const _ of h.client.workflow.list({ query: `TaskQueue = '${h.taskQueue}' AND WorkflowType = 'presence' AND ExecutionStatus = 'Running'` }))
          return true;
        return false;
      },
      15_000,
      "the worker's presence running",
    );

    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const watcher = 'keeper-test';
    const id = presenceWorkflowId(h.taskQueue, watcher);
    const keeper = keepPresence({ client: h.client, taskQueue: h.taskQueue, watcher, logger, running: () => true, renewEveryMs: 300 });
    try {
      await until(async () => (await runs(id)).length === 1, 15_000, 'the presence started');
      await new Promise((r) => setTimeout(r, 2000)); // several renewed waits
      expect(await runs(id)).toEqual([expect.objectContaining({ status: 'RUNNING' })]);
      expect(lines.join('')).not.toMatch(/could not be kept|ended while it runs/);

      // Ended while the worker runs (terminated here; lost or stalled in life): announced again.
      await h.client.workflow.getHandle(id).terminate('test: presence ended');
      await until(async () => (await runs(id)).some((r) => r.status === 'RUNNING'), 15_000, 'the presence started again');
      expect((await runs(id)).map((r) => r.status).sort()).toEqual(['RUNNING', 'TERMINATED']);
      expect(lines.join('')).toMatch(/could not be kept/);
    } finally {
      keeper.stop();
    }
  });

  it('a graceful stop ends the presence as stopped, releasing nothing', async () => {
    const ids: string[] = [];
    for await (const w of h.client.workflow.list({ query: `TaskQueue = '${h.taskQueue}' AND WorkflowType = 'presence' AND ExecutionStatus = 'Running'` }))
      if (!w.workflowId.includes('keeper-test')) ids.push(w.workflowId);
    expect(ids).toHaveLength(1);
    // The worker's own presence worker stops with the worker; its presence ends on a workflow task
    // this worker no longer runs, so the end is read from a second harness worker on the task queue.
    await h.close();
    closed = true;
    const h2 = await temporalHarness(() => ({ failover_manager: {}, services: [] }) as never, { taskQueue: h.taskQueue });
    try {
      const end = (await h2.client.workflow.getHandle(ids[0]!).result()) as PresenceEnd;
      expect(end).toMatchObject({ ended: 'stopped' });
      expect(end.released).toBeUndefined();
      await stopAndReplayTaskQueue(h2.client, h.taskQueue, 'presence');
    } finally {
      await h2.close();
    }
  });
});
