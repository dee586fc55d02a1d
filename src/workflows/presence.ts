import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import { presenceBeatSchema, presenceInputSchema, type PresenceEnd, type PresenceInput } from '../api/presence';
import { parseInput } from './runbook-frame';

/**
 * Missing beats for this long and the worker process counts as lost. A watch heartbeats only every
 * minute or so (each heartbeat is a server write, thousands of watches per worker): this one
 * heartbeat per process is what notices a killed worker within seconds.
 */
const PRESENCE_TIMEOUT = '10s';

/**
 * A worker process's presence, started by the worker itself. It holds one activity on the process's
 * own task queue; when that activity stops heartbeating, the watches its last heartbeat listed are
 * released (failed by id) and retry at once on the workers left. An hour later it continues as new.
 */
export async function presence(raw: PresenceInput): Promise<PresenceEnd> {
  const input = parseInput(presenceInputSchema, raw, 'presence');
  const { holdPresence } = wf.proxyActivities<Activities>({
    taskQueue: input.queue,
    heartbeatTimeout: PRESENCE_TIMEOUT,
    // A process that died before it picked its presence up held nothing yet.
    scheduleToStartTimeout: '1m',
    startToCloseTimeout: '70m',
    retry: { maximumAttempts: 1 },
  });
  const { releaseWatches } = wf.proxyActivities<Activities>({ startToCloseTimeout: '5m', heartbeatTimeout: '30s' });
  wf.setCurrentDetails(`### presence · ${input.watcher}\n\nholds the watches of this worker process`);
  try {
    await holdPresence();
  } catch (err) {
    const timeout = err instanceof wf.ActivityFailure && err.cause instanceof wf.TimeoutFailure ? err.cause : undefined;
    if (!timeout) return { watcher: input.watcher, ended: 'stopped', detail: causeOf(err) };
    const beat = presenceBeatSchema.safeParse(timeout.lastHeartbeatDetails);
    const watches = beat.success ? beat.data.watches : [];
    const report = watches.length > 0 ? await releaseWatches({ watcher: input.watcher, watches }) : { released: 0, gone: 0 };
    const detail = `no presence heartbeat (${timeout.timeoutType === 'SCHEDULE_TO_START' ? 'never picked up' : 'timed out'}); ${
      beat.success ? `its last heartbeat listed ${watches.length} watches` : 'no list of watches'
    }`;
    wf.log.warn(`worker ${input.watcher} lost: ${detail}`, { ...report });
    return { watcher: input.watcher, ended: 'lost', detail, ...report };
  }
  return wf.continueAsNew<typeof presence>(input);
}

function causeOf(err: unknown): string {
  const cause = err instanceof wf.ActivityFailure ? (err.cause ?? err) : err;
  return cause instanceof Error ? cause.message : String(cause);
}
