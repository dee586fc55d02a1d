import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { ActivityNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { ConcurrencyLimiter } from '../triggers/concurrency-limiter';
import type { HeldWatch } from './watch';

/** Releases run side by side, as the supervisor's starts do: a dead worker may have held thousands. */
const RELEASE_CONCURRENCY = 16;

export interface ReleaseInput {
  /** The worker process whose presence ended (for the failure message the watch's history keeps). */
  watcher: string;
  watches: HeldWatch[];
}

export interface ReleaseReport {
  /** Watches failed by id: each retries at once on a live worker. */
  released: number;
  /** Watches that had ended or moved already. */
  gone: number;
}

export function createPresenceActivities(deps: { client?: Client; logger: Logger }) {
  return {
    /**
     * A worker stopped heartbeating its presence: fails the watch activities it held, by id, so that
     * each retries now on a live worker instead of after its own (long) heartbeat timeout.
     */
    async releaseWatches(input: ReleaseInput): Promise<ReleaseReport> {
      if (!deps.client) throw ApplicationFailure.nonRetryable('this worker has no Temporal client', 'NoClient');
      const client = deps.client;
      const report: ReleaseReport = { released: 0, gone: 0 };
      const limiter = new ConcurrencyLimiter(RELEASE_CONCURRENCY);
      const why = ApplicationFailure.retryable(`worker ${input.watcher} stopped answering: this watch moves to another worker`, 'WatcherLost');
      await Promise.all(
        input.watches.map(([workflowId, runId, activityId]) =>
          limiter.run(async () => {
            try {
              await client.activity.fail({ workflowId, runId, activityId }, why);
              report.released++;
            } catch (err) {
              if (!(err instanceof ActivityNotFoundError)) throw err;
              report.gone++;
            }
            if ((report.released + report.gone) % 100 === 0) heartbeat(report);
          }),
        ),
      );
      deps.logger.info({ watcher: input.watcher, ...report }, 'watches of a lost worker released');
      return report;
    },
  };
}
