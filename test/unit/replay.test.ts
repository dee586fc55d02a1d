import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowInterceptorModules } from '../../src/worker';
import { recordedHistories, workflowsPath } from '../support/histories';

/**
 * Histories recorded from real runs (RECORD_HISTORIES=1 npm test) replay against the current
 * workflow code. A change that would break running workflows fails here: it needs patched() or a
 * new workflow type.
 */
describe('replay of recorded runbook histories', () => {
  const recorded = recordedHistories();

  it('has recorded histories of every runbook type', () => {
    const types = new Set(recorded.map(({ history }) => history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
    for (const t of ['failover', 'recovery', 'rollback', 'detection', 'consistencyCheck', 'rebalance']) expect(types).toContain(t);
  });

  it('replays every one deterministically', async () => {
    const histories = recorded;
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of Worker.runReplayHistories(
      { workflowsPath, interceptors: { workflowModules: workflowInterceptorModules() }, replayName: 'recorded' },
      histories,
    )) {
      replayed++;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(recorded.length);
  });
});
