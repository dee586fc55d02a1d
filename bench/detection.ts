/**
 * Detection figures (printed, no assertions):
 *  - scale: one worker process watches N destinations (N/2 services × 2 TCP destinations, 1 s
 *    interval); fault → decision latency p50/p99 over a batch of killed destinations; the worker's
 *    CPU and RSS while it watches;
 *  - fault → first acknowledged write through HAProxy after SIGKILL of the Redis primary, with and
 *    without intelligent detection (3 probes of 1 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import YAML from 'yaml';
import { healthQuery } from '../src/api/queries';
import { supervisionQuery, supervisorWorkflowId } from '../src/api/supervisor';
import { routerFor } from '../src/drivers';
import { startRedis } from '../dev/devserver/local-redis';
import { primaryOf } from '../src/domain/routing';
import { detectionWorkflowId } from '../src/domain/workflow-ids';
import { startSequencedWriter } from '../dev/harness/redis-sequenced-writer';
import { createFailoverWorker, workflowInterceptorModules, workflowsEntry } from '../src/worker';
import { twoRedisService } from './two-redis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** CPU seconds (user+system) and RSS of a process, from /proc. */
function usage(pid: number): { cpuS: number; rssMiB: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const rss = Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  return { cpuS: ticks / 100, rssMiB: rss / 1024 / 1024 };
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms`);
    await sleep(500);
  }
}

/** One worker process watching `destinations` TCP destinations; prints its figures. */
export async function benchScale(address: string, destinations: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bench-scale-'));
  const bundle = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(
    bundle,
    (await bundleWorkflowCode({ workflowsPath: workflowsEntry(), workflowInterceptorModules: workflowInterceptorModules(), logger: quiet })).code,
  );
  const listeners: net.Server[] = [];
  const listen = async () => {
    const s = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    listeners.push(s);
    return (s.address() as net.AddressInfo).port;
  };
  const shared = await Promise.all(Array.from({ length: 50 }, listen));
  const victims = 20;
  const victimPorts = await Promise.all(Array.from({ length: victims }, listen));
  const count = Math.floor(destinations / 2);
  const services = Array.from({ length: count }, (_, i) => ({
    name: `s${i}`,
    router: { type: 'file', path: path.join(dir, `s${i}.json`) },
    destinations: [0, 1].map((k) => ({
      id: `d${k}`,
      zone: `z${k}`,
      region: 'r',
      probe: { type: 'tcp', host: '127.0.0.1', port: i < victims && k === 0 ? victimPorts[i]! : shared[(i * 2 + k) % shared.length]! },
    })),
  }));
  const policy = {
    failover_detection: { detection_interval: '1s', timeout: '1s', failure_threshold: 3, cooldown: '1h' },
    failover_execution: { automatic_failover: false },
    supervision: { reconcile_interval: '30s', redundancy: false },
  };
  const configFile = path.join(dir, 'scale.yaml');
  fs.writeFileSync(configFile, YAML.stringify({ failover_manager: policy, services }));
  const taskQueue = `scale-${destinations}`;
  const worker: ChildProcess = spawn(
    process.execPath,
    [...(process.env.BENCH_WORKER_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'src/worker.ts'],
    {
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'json',
        FAILOVER_CONFIG: configFile,
        TEMPORAL_ADDRESS: address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        FAILOVER_WORKFLOW_BUNDLE: bundle,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const health = (name: string) => client.workflow.getHandle(detectionWorkflowId(name)).query(healthQuery);
  const t0 = Date.now();
  const runningDetections = async () =>
    (await client.workflow.count(`TaskQueue = '${taskQueue}' AND WorkflowType = 'detection' AND ExecutionStatus = 'Running'`).catch(() => undefined))?.count;
  // A line a minute while it starts up, so a step that does not get there still says how far it got.
  const progress = setInterval(() => {
    void runningDetections().then((n) => {
      const u = usage(worker.pid!);
      console.log(
        `  ${destinations} destinations, ${Math.round((Date.now() - t0) / 1000)}s: ${n ?? '?'} of ${count} detection runbooks running; worker RSS ${u.rssMiB.toFixed(0)} MiB, ${u.cpuS.toFixed(0)} CPU s`,
      );
    });
  }, 60_000);
  const startupLimitMs = Number(process.env.BENCH_SCALE_MINUTES ?? 30) * 60_000;
  try {
    try {
      await until(
        async () => {
          const s = await client.workflow
            .getHandle(supervisorWorkflowId(taskQueue))
            .query(supervisionQuery)
            .catch(() => undefined);
          return !!s && Object.keys(s.services).length === count && Object.values(s.services).every((x) => x.detection !== 'error');
        },
        startupLimitMs,
        'supervision',
      );
      // Watching: a sample of services answers with its watch running.
      const sample = Array.from({ length: 50 }, (_, i) => `s${Math.floor((i * count) / 50)}`);
      await until(
        async () =>
          (
            await Promise.all(
              sample.map((n) =>
                health(n).then(
                  (h) => h.watching,
                  () => false,
                ),
              ),
            )
          ).every(Boolean),
        startupLimitMs - (Date.now() - t0),
        'watching',
      );
    } catch (err) {
      const u = usage(worker.pid!);
      console.log(
        `detection scale: ${count * 2} destinations (${count} services) on one worker: NOT all watched after ${Math.round((Date.now() - t0) / 60_000)} min (${(err as Error).message}); ` +
          `${(await runningDetections()) ?? '?'} of ${count} detection runbooks running, worker RSS ${u.rssMiB.toFixed(0)} MiB, ${u.cpuS.toFixed(0)} CPU s so far`,
      );
      return;
    } finally {
      clearInterval(progress);
    }
    const startup = Date.now() - t0;
    await sleep(15_000); // steady state
    const u0 = usage(worker.pid!);
    const w0 = Date.now();
    await sleep(30_000);
    const u1 = usage(worker.pid!);
    const cpu = ((u1.cpuS - u0.cpuS) / ((Date.now() - w0) / 1000)) * 100;
    // Faults: the victims' first destination stops listening.
    const killedAt = Date.now();
    for (const l of listeners.slice(shared.length)) l.close();
    const latencies: number[] = [];
    await until(
      async () => {
        latencies.length = 0;
        for (let i = 0; i < victims; i++) {
          const d = (await health(`s${i}`)).decisions.find((x) => x.event.destination === 'd0' && x.event.kind === 'down');
          if (d) latencies.push(new Date(d.at).getTime() - killedAt);
        }
        return latencies.length === victims;
      },
      120_000,
      'every victim detected',
    );
    console.log(
      `detection scale: ${count * 2} destinations (${count} services) on one worker, 1s interval: all watched ${Math.round(startup / 1000)}s after start; ` +
        `worker CPU ${cpu.toFixed(0)}% of one core, RSS ${u1.rssMiB.toFixed(0)} MiB; fault → decision (3 probes) p50 ${pct(latencies, 50)}ms, p99 ${pct(latencies, 99)}ms (n=${victims})`,
    );
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
    const running: string[] = [];
    for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) running.push(w.workflowId);
    // A few at a time: a burst is throttled by the server, and a call still retrying after close() throws from its timer.
    for (let i = 0; i < running.length; i += 20)
      await Promise.all(
        running.slice(i, i + 20).map((id) =>
          client.workflow
            .getHandle(id)
            .terminate('bench done')
            .catch(() => undefined),
        ),
      );
    // The connection is left to the process's exit: a call the server throttled (query buffer full,
    // RESOURCE_EXHAUSTED) is retried from a timer by the SDK, and after close() that timer throws.
    for (const l of listeners) l.close();
  }
}

/** HAProxy's `timeout connect` for the fault → ack figure: short, as docs/haproxy.md recommends. */
const ACK_HAPROXY_CONNECT_TIMEOUT_MS = Number(process.env.BENCH_HAPROXY_CONNECT_TIMEOUT_MS ?? 200);

/** SIGKILL of the Redis primary → first write acknowledged through HAProxy again, per detection mode. */
export async function benchFaultToAck(address: string, rounds: number): Promise<void> {
  if (rounds <= 0) return;
  const logger = pino({ level: 'silent' });
  for (const intelligent of [false, true]) {
    const { dir, config, service, topo, front } = await twoRedisService(
      'ack-bus',
      {
        failover_detection: {
          detection_interval: '1s',
          timeout: '500ms',
          failure_threshold: 3,
          recovery_threshold: 2,
          cooldown: '1s',
          intelligent_detection: intelligent,
        },
        recovery_management: { validation_intervals: 2 },
      },
      { haproxyConnectTimeoutMs: ACK_HAPROXY_CONNECT_TIMEOUT_MS },
    );
    const native = await NativeConnection.connect({ address });
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const taskQueue = `ack-${intelligent}`;
    const worker = await createFailoverWorker({ connection: native, namespace: 'default', taskQueue, config: () => config, logger, client });
    const running = worker.run();
    const gaps: number[] = [];
    const reasons: string[] = [];
    const decidedAfter: number[] = [];
    const switched: number[] = [];
    try {
      await client.workflow.start('detection', { taskQueue, workflowId: detectionWorkflowId('ack-bus'), args: [{ service: 'ack-bus' }] });
      for (let i = 0; i < rounds; i++) {
        await sleep(5000); // a clean window
        const primary = primaryOf((await routerFor(service).read()).routing)!;
        const writer = startSequencedWriter({ host: '127.0.0.1', port: front, prefix: `ack${i}`, maxDurationMs: 60_000 });
        await sleep(1000);
        const killedAt = Date.now();
        await topo.redis[primary]!.kill('SIGKILL');
        const other = primary === 'redis-a' ? 'redis-b' : 'redis-a';
        await until(async () => primaryOf((await routerFor(service).read()).routing) === other, 60_000, 'failover');
        switched.push(Date.now() - killedAt);
        const acked = writer.ackedCount;
        await until(async () => writer.ackedCount > acked + 10, 15_000, 'writes flowing again');
        const health = await client.workflow.getHandle(detectionWorkflowId('ack-bus')).query(healthQuery);
        const decided = [...health.decisions].reverse().find((d) => d.event.destination === primary && d.event.kind === 'down');
        reasons.push(decided ? decided.event.reason.split(':')[0]! : 'no down decision');
        if (decided) decidedAfter.push(Date.parse(decided.at) - killedAt);
        const report = await writer.stop();
        // A write in flight at the kill may still be acknowledged in its first milliseconds; any later
        // acknowledgement came through the new primary.
        const first = report.ackedAt.find((t) => t > killedAt + 50);
        if (first) gaps.push(first - killedAt);
        // The old primary returns empty and detection resyncs it before the next round.
        topo.redis[primary] = await startRedis({ port: topo.redis[primary]!.port, dir, name: `${primary}-${i}` });
        await until(
          async () => (await client.workflow.getHandle(detectionWorkflowId('ack-bus')).query(healthQuery)).sync?.[primary]?.state === 'in-sync',
          60_000,
          'resync',
        );
      }
      console.log(
        `fault → first acknowledged write through HAProxy (timeout connect ${ACK_HAPROXY_CONNECT_TIMEOUT_MS}ms), ${intelligent ? 'with' : 'without'} intelligent detection (3 probes of 1s): median ${pct(gaps, 50)}ms, max ${Math.max(...gaps)}ms (n=${gaps.length}); ` +
          `fault → decision median ${pct(decidedAfter, 50)}ms, fault → HAProxy switched median ${pct(switched, 50)}ms; decided: ${[...new Set(reasons)].join(' | ')}`,
      );
    } finally {
      await client.workflow
        .getHandle(detectionWorkflowId('ack-bus'))
        .terminate('bench done')
        .catch(() => undefined);
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
      await topo.stop();
    }
  }
}
