/**
 * Benchmarks that print figures (no assertions): detection's idle history growth at a 1 s probe
 * interval, failover RTO in the local Redis + HAProxy topology, fault → first acknowledged write with and
 * without intelligent detection, and one worker watching 1k and 10k destinations (bench/detection.ts).
 *   npm run bench            BENCH_IDLE_SECONDS=60 BENCH_SWITCHOVERS=5 BENCH_CRASHES=3 BENCH_ACK_ROUNDS=3 BENCH_SCALES=1000,10000
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { routerFor } from '../src/drivers';
import { startMutatingRunbook } from '../src/client/start-runbook';
import { startRedis } from '../dev/devserver/local-redis';
import { startDevServer } from '../dev/devserver/temporal-dev-server';
import { detectionWorkflowId } from '../src/domain/workflow-ids';
import type { FailoverResult } from '../src/workflows/failover';
import { createFailoverWorker, installRuntimeLogging } from '../src/worker';
import { benchFaultToAck, benchScale } from './detection';
import { twoRedisService } from './two-redis';

const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const switchovers = Number(process.env.BENCH_SWITCHOVERS ?? 5);
const crashes = Number(process.env.BENCH_CRASHES ?? 3);
/** Destination counts for the detection scale figures (one worker, 1 s interval). */
const scales = (process.env.BENCH_SCALES ?? '1000,10000').split(',').filter(Boolean).map(Number);
const ackRounds = Number(process.env.BENCH_ACK_ROUNDS ?? 3);

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]}ms, median ${s[Math.floor(s.length / 2)]}ms, max ${s[s.length - 1]}ms (n=${s.length})`;
}

async function main() {
  const logger = pino({ level: 'silent' });
  installRuntimeLogging(logger);
  const server = await startDevServer({ headless: true });
  const { dir, config, service, topo } = await twoRedisService('bench-bus', { failover_detection: { detection_interval: '1s', timeout: '500ms' } });
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const taskQueue = 'bench';
  const worker = await createFailoverWorker({ connection: native, namespace: 'default', taskQueue, config: () => config, logger, client });
  const running = worker.run();
  try {
    // 1. Idle detection: history written while nothing changes.
    const det = await client.workflow.start('detection', { taskQueue, workflowId: detectionWorkflowId('bench-bus'), args: [{ service: 'bench-bus' }] });
    await new Promise((r) => setTimeout(r, 5000));
    const atStart = (await det.fetchHistory()).events?.length ?? 0;
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const atEnd = (await det.fetchHistory()).events?.length ?? 0;
    const perHour = ((atEnd - atStart) / idleSeconds) * 3600;
    console.log(
      `detection idle, 1s interval: ${atStart} events after start-up, +${atEnd - atStart} over ${idleSeconds}s idle (${perHour.toFixed(0)} events/hour measured; probes run ${idleSeconds} times inside one watch activity, which returns once an hour by design, ≈7 events/hour)`,
    );
    await det.terminate('bench done');

    // 2. Planned switchovers under no load: trigger → traffic moved.
    const planned: number[] = [];
    const durations: number[] = [];
    const paused: number[] = [];
    for (let i = 0; i < switchovers; i++) {
      const t0 = Date.now();
      const h = await startMutatingRunbook(client, { taskQueue, type: 'failover', service: 'bench-bus', input: { planned: true } });
      const r = (await h.result()) as FailoverResult;
      planned.push(r.rtoMs);
      durations.push(Date.now() - t0);
      // How long the source refused writes: the one-activity switch section measures it.
      const section = r.steps?.find((s) => s.name === 'switch section');
      if (typeof section?.numbers?.pausedMs === 'number') paused.push(section.numbers.pausedMs);
    }
    console.log(`planned switchover RTO (start → routing switched): ${stats(planned)}; whole runbook incl. validation: ${stats(durations)}`);
    console.log(`planned switchover write pause (source fenced → writes accepted by the target): ${stats(paused)}`);

    // 3. Primary SIGKILLed, failover started by hand right after.
    const crash: number[] = [];
    for (let i = 0; i < crashes; i++) {
      const primary = routerFor(service);
      const weights = (await primary.read()).routing.weights;
      const victim = weights['redis-a']! > 0 ? 'redis-a' : 'redis-b';
      await topo.redis[victim]!.kill('SIGKILL');
      const h = await startMutatingRunbook(client, { taskQueue, type: 'failover', service: 'bench-bus', input: {} });
      const r = (await h.result()) as FailoverResult;
      crash.push(r.rtoMs);
      // Bring the victim back as a replica of the new primary for the next round.
      topo.redis[victim] = await startRedis({ port: topo.redis[victim]!.port, dir, name: `${victim}-${i}` });
      await startMutatingRunbook(client, { taskQueue, type: 'recovery', service: 'bench-bus', input: { destination: victim, failback: false } }).then((x) =>
        x.result(),
      );
    }
    console.log(`unplanned failover RTO (primary SIGKILLed, runbook start → routing switched): ${stats(crash)}`);

    // 4. Detection: fault → first acknowledged write, and one worker at fleet scale.
    await benchFaultToAck(server.address, ackRounds);
    for (const n of scales) await benchScale(server.address, n);
  } finally {
    worker.shutdown();
    await running;
    await native.close();
    await topo.stop();
    await server.stop();
  }
}

// Exits when done: client connections are not closed (see benchScale), so nothing else would end the process.
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
