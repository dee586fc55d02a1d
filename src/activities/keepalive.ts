import type { Context } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Activities that heartbeat on their own, with details a retry resumes from: a keep-alive must not
 * overwrite those details.
 */
export const SELF_HEARTBEATING = new Set([
  'watchDestinations',
  'waitForLag',
  'probeRepeatedly',
  'keepDivergentCopy',
  'switchover',
  'reconcileRunbooks',
  'signalRunbooks',
]);

/**
 * Every other activity heartbeats once a second while it runs, so runbooks can give them a short
 * heartbeat timeout: an attempt on a worker that was killed is retried elsewhere within seconds,
 * instead of after its whole start-to-close timeout.
 */
export const keepAlive: ActivityInterceptorsFactory = (ctx: Context) => ({
  inbound: {
    async execute(input, next) {
      if (SELF_HEARTBEATING.has(ctx.info.activityType)) return next(input);
      const timer = setInterval(() => ctx.heartbeat(), 1000);
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  } satisfies ActivityInboundCallsInterceptor,
});
