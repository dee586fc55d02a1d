import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'histories');
export const workflowsPath = path.resolve(__dirname, '..', '..', 'src', 'workflows', 'index.ts');

/**
 * Replays the histories these workflows just wrote against the current workflow code (a
 * nondeterminism error fails the test), and with RECORD_HISTORIES=1 saves them as fixtures for
 * the replay test that guards later changes.
 */
export async function replayAndRecord(client: Client, workflowIds: string[], prefix: string): Promise<number> {
  const histories = await Promise.all(
    workflowIds.map(async (workflowId) => ({ workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() })),
  );
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowsPath, replayName: prefix }, histories)) {
    if (r.error) throw new Error(`replay of ${r.workflowId} failed: ${r.error.message}`);
    replayed++;
  }
  if (process.env.RECORD_HISTORIES === '1') {
    fs.mkdirSync(FIXTURES, { recursive: true });
    histories.forEach(({ workflowId, history }, i) => {
      const name = `${prefix}-${i}-${workflowId.replace(/[^a-z0-9-]/gi, '_')}.json`;
      fs.writeFileSync(path.join(FIXTURES, name), JSON.stringify(history));
    });
  }
  return replayed;
}

export function recordedHistories(): { workflowId: string; file: string }[] {
  if (!fs.existsSync(FIXTURES)) return [];
  return fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort().map((f) => ({ workflowId: f.replace(/\.json$/, ''), file: path.join(FIXTURES, f) }));
}
