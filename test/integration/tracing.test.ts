import { randomUUID } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validateConfig, type Config } from '../../src/domain/config';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import { receiverAuthFromEnv } from '../../src/triggers/alert-auth';
import { createAlertReceiver, type AlertReceiver } from '../../src/triggers/alert-receiver';
import { clientTracing, startTracing, tracesExporters, type Tracing } from '../../src/tracing';
import { createFailoverWorker, installRuntimeLogging, workflowInterceptorModules, workflowsEntry, type FailoverWorker } from '../../src/worker';
import { replayAndRecord } from '../support/histories';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { testLogger } from '../support/temporal';
import { until } from '../support/wait';
import { healthQuery } from '../../src/api/queries';

/**
 * One alert-started failover as a trace: the monitoring system's request → the receiver's server
 * span → signal-with-start into the detection that already runs → the failover it starts →
 * every activity of it. Real worker, receiver, Redis and HAProxy; spans collected by the OTel
 * SDK's in-memory exporter.
 */
const SERVICE = 'trace-bus';
const TOKEN = `tr-${randomUUID()}`;

describe("tracing: one trace from the alert receiver's request to each activity of the failover it causes", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let fx: RedisServiceFixture;
  let config: Config;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let client: Client;
  let worker: FailoverWorker;
  let running: Promise<void>;
  let receiver: AlertReceiver;
  let url: string;
  const taskQueue = `trace-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    installRuntimeLogging(testLogger);
    tracing = startTracing('test', exporter);
    fx = await startRedisService(SERVICE, { failover_detection: { detection_interval: '200ms', timeout: '500ms' } });
    config = validateConfig({
      ...fx.config,
      alerting: {
        receiver: { token_env: 'TRACE_TOKEN' },
        routes: [{ match: { alertname: 'RedisDown' }, service: SERVICE, destination_label: 'destination', means: 'down' }],
      },
    });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    nativeConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
    // The test's own client carries no trace: detection runs in a trace of its own, as under the supervisor.
    client = new Client({ connection });
    const bundle = await bundleWorkflowCode({ workflowsPath: workflowsEntry(), workflowInterceptorModules: workflowInterceptorModules(true), logger: quiet });
    worker = await createFailoverWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      config: () => config,
      logger: testLogger,
      client,
      workflowBundle: bundle,
      tracing,
    });
    running = worker.run();
    receiver = createAlertReceiver({
      alerting: config.alerting!,
      services: config.services,
      client: new Client({ connection, ...clientTracing(tracing) }),
      taskQueue,
      auth: receiverAuthFromEnv(config.alerting!.receiver, { TRACE_TOKEN: TOKEN }),
      logger: testLogger,
      tracer: tracing.tracer,
    });
    url = await receiver.listen('127.0.0.1:0');
  });

  afterAll(async () => {
    const h = client?.workflow.getHandle(detectionWorkflowId(SERVICE));
    if (
      h &&
      (await h.describe().then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      ))
    )
      await h.terminate('test done');
    try {
      const ids = [detectionWorkflowId(SERVICE), runbookWorkflowId(SERVICE)];
      expect(await replayAndRecord(client, ids, 'tracing', { tracing: true })).toBeGreaterThan(0);
      // Tracing turned off (or on) with runbooks in flight: what they wrote replays without its interceptors too.
      expect(await replayAndRecord(client, ids, 'tracing-off', { record: false })).toBeGreaterThan(0);
    } finally {
      await receiver?.close();
      worker?.shutdown();
      await running;
      await nativeConnection?.close();
      await connection?.close();
      await tracing?.shutdown();
      await fx?.stop();
    }
  });

  it('is off unless OTEL_* asks for it, and names a bad setting', () => {
    expect(tracesExporters({})).toEqual([]);
    expect(tracesExporters({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' })).toEqual([]);
    expect(tracesExporters({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' })).toEqual(['otlp']);
    expect(tracesExporters({ OTEL_TRACES_EXPORTER: 'otlp,console' })).toEqual(['otlp', 'console']);
    expect(tracesExporters({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toEqual([]);
    expect(() => tracesExporters({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow('OTEL_TRACES_EXPORTER: zipkin is not supported here');
    expect(() => tracesExporters({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      'OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported',
    );
  });

  it('alert request → receiver span → signal-with-start → detection → failover → each activity, one trace', async () => {
    await client.workflow.start('detection', { taskQueue, workflowId: detectionWorkflowId(SERVICE), args: [{ service: SERVICE }] });
    const detection = client.workflow.getHandle(detectionWorkflowId(SERVICE));
    await until(async () => (await detection.query(healthQuery).catch(() => undefined))?.watching === true, 30_000, 'detection watching');

    // Monitoring sends the alert inside a trace of its own (as a traced Alertmanager or Grafana would).
    const root = tracing.tracer.startSpan('monitoring: notify');
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    propagation.inject(trace.setSpan(context.active(), root), headers);
    const payload = {
      version: '4',
      status: 'firing',
      receiver: 'failover',
      alerts: [
        {
          status: 'firing',
          fingerprint: 'trace-1',
          labels: { alertname: 'RedisDown', destination: 'redis-a' },
          annotations: { summary: 'redis-a down' },
          startsAt: new Date().toISOString(),
        },
      ],
    };
    const res = await fetch(`${url}/alerts/alertmanager`, { method: 'POST', headers, body: JSON.stringify(payload) });
    expect(res.status).toBe(200);
    root.end();

    await until(
      async () =>
        (
          await client.workflow
            .getHandle(runbookWorkflowId(SERVICE))
            .describe()
            .catch(() => undefined)
        )?.status.name === 'COMPLETED',
      30_000,
      'failover completed',
    );
    const spans = () => exporter.getFinishedSpans();
    await until(() => spans().some((s) => s.name === 'RunWorkflow:failover'), 15_000, "the failover's workflow span exported");

    const byId = new Map(spans().map((s) => [s.spanContext().spanId, s]));
    const one = (name: string, pred: (s: ReadableSpan) => boolean = () => true) => {
      const found = spans().filter((s) => s.name === name && pred(s));
      expect(
        found.map((s) => s.name),
        name,
      ).toHaveLength(1);
      return found[0]!;
    };
    const parentOf = (s: ReadableSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);
    const traceId = root.spanContext().traceId;

    const request = one('POST /alerts/alertmanager');
    expect(request.parentSpanId).toBe(root.spanContext().spanId);
    const sws = one('SignalWithStartWorkflow:detection');
    expect(parentOf(sws)).toBe(request);
    expect(parentOf(one('HandleSignal:alert', (s) => s.spanContext().traceId === traceId))).toBe(sws);
    const startChild = one('StartChildWorkflow:failover');
    expect(parentOf(startChild)).toBe(sws);
    const run = one('RunWorkflow:failover');
    expect(parentOf(run)).toBe(startChild);

    // Every activity the failover ran: scheduled by it, run under that, in the alert's trace.
    const starts = spans().filter((s) => s.name.startsWith('StartActivity:') && parentOf(s) === run);
    const names = starts.map((s) => s.name.replace('StartActivity:', ''));
    // The single-writer switch (fence, promote, route, demote) is one activity.
    expect(names).toEqual(expect.arrayContaining(['loadService', 'readRouting', 'switchover', 'validateStep']));
    for (const start of starts) {
      const runs = spans().filter((s) => s.name === start.name.replace('Start', 'Run') && parentOf(s) === start);
      expect(runs.length, `${start.name} ran`).toBeGreaterThan(0);
    }
    const chain = [request, sws, startChild, run, ...starts];
    expect(new Set(chain.map((s) => s.spanContext().traceId))).toEqual(new Set([traceId]));
  });
});

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };
