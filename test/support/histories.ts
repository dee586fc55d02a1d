import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { expect } from 'vitest';
import { workflowInterceptorModules } from '../../src/worker';
import type { TemporalHarness } from './temporal';
import { until } from './wait';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'histories');
export const workflowsPath = path.resolve(__dirname, '..', '..', 'src', 'workflows', 'index.ts');

/**
 * Replays the histories these workflows just wrote against the current workflow code (a
 * nondeterminism error fails the test), and with RECORD_HISTORIES=1 saves them as fixtures for
 * the replay test that guards later changes.
 */
/**
 * The end of a file that ran runbooks: every history they wrote must replay (see replayAndRecord),
 * and the worker and the file's own processes are stopped even when that fails.
 */
export async function replayThenCleanUp(t: TemporalHarness | undefined, workflowIds: string[], prefix: string, cleanUp: () => unknown): Promise<void> {
  try {
    if (t) expect(await replayAndRecord(t.client, workflowIds, prefix)).toBeGreaterThan(0);
  } finally {
    await t?.close();
    await cleanUp();
  }
}

/**
 * A supervised worker starts runbooks the test does not stop: terminates what still runs on
 * `taskQueue`, then replays (and with RECORD_HISTORIES=1 records) every history it ran.
 */
export async function stopAndReplayTaskQueue(client: Client, taskQueue: string, prefix: string): Promise<number> {
  const ids = new Set<string>();
  for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) ids.add(w.workflowId);
  for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
    await client.workflow
      .getHandle(w.workflowId)
      .terminate('test done')
      .catch(() => undefined);
  }
  return replayAndRecord(client, [...ids], prefix);
}

export async function replayAndRecord(
  client: Client,
  workflowIds: string[],
  prefix: string,
  /** `tracing`: replay with tracing's workflow interceptors too (as the worker ran); `record: false`: never save fixtures. */
  opts: { tracing?: boolean; record?: boolean } = {},
): Promise<number> {
  // Every run of each id: mutating runbooks of one service share an id.
  const runs: { workflowId: string; runId: string }[] = [];
  for (const workflowId of new Set(workflowIds)) {
    // Visibility lags a close (a terminate just before, on a loaded machine): wait until it lists the latest run closed.
    const latest = await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => undefined);
    if (latest && latest.status.name !== 'RUNNING') {
      const query = `WorkflowId = '${workflowId}' AND RunId = '${latest.runId}' AND ExecutionStatus != 'Running'`;
      await until(async () => (await client.workflow.count(query)).count > 0, 15_000, `visibility lists ${workflowId} closed`);
    }
    for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus != 'Running'` }))
      runs.push({ workflowId, runId: w.runId });
  }
  const histories = await Promise.all(
    runs.map(async ({ workflowId, runId }) => ({ workflowId, history: await client.workflow.getHandle(workflowId, runId).fetchHistory() })),
  );
  // Child runbooks (consistency checks) have ids of their own.
  const children = histories.flatMap(({ history }) =>
    (history.events ?? []).flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []),
  );
  for (const id of new Set(children)) {
    const h = client.workflow.getHandle(id);
    if ((await h.describe().catch(() => undefined))?.status.name === 'COMPLETED') histories.push({ workflowId: id, history: await h.fetchHistory() });
  }
  let replayed = 0;
  const replayer = {
    workflowsPath,
    interceptors: { workflowModules: workflowInterceptorModules(opts.tracing === true) },
    // Workflow spans go nowhere on replay (the sink is not called then), but it must exist.
    ...(opts.tracing ? { sinks: { exporter: { export: { fn: () => undefined } } } } : {}),
    replayName: prefix,
  };
  for await (const r of Worker.runReplayHistories(replayer, histories)) {
    if (r.error) throw new Error(`replay of ${r.workflowId} failed: ${r.error.message}`);
    replayed++;
  }
  if (process.env.RECORD_HISTORIES === '1' && opts.record !== false) {
    fs.mkdirSync(FIXTURES, { recursive: true });
    histories.forEach(({ workflowId, history }, i) => {
      const name = `${prefix}-${String(i).padStart(2, '0')}-${workflowId.replace(/[^a-z0-9-]/gi, '_')}.binpb`;
      fs.writeFileSync(path.join(FIXTURES, name), temporal.api.history.v1.History.encode(history).finish());
    });
  }
  return replayed;
}

/** Recorded histories (binary protobuf, as the server sends them). */
export function recordedHistories(): { workflowId: string; history: temporal.api.history.v1.IHistory }[] {
  if (!fs.existsSync(FIXTURES)) return [];
  return fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.binpb'))
    .sort()
    .map((f) => {
      const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(FIXTURES, f)));
      // Replay under the id it ran with: runbooks derive child ids from their own.
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      const workflowId = (started as { workflowId?: string } | undefined)?.workflowId ?? f.replace(/\.binpb$/, '');
      return { workflowId, history };
    });
}
