/**
 * OpenTelemetry tracing, off unless asked for: through the Temporal SDK's interceptors, one trace
 * runs from the alert receiver's request through signal-with-start into detection, the runbook it
 * starts and each activity. Configured by the standard OTEL_* variables (OTEL_TRACES_EXPORTER,
 * OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT / _HEADERS, OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_PROPAGATORS, OTEL_SDK_DISABLED).
 */
import path from 'node:path';
import fs from 'node:fs';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { WorkerOptions } from '@temporalio/worker';

export interface Tracing {
  tracer: Tracer;
  resource: Resource;
  spanProcessor: SpanProcessor;
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/** Which exporters OTEL_* asks for; empty: tracing stays off. A bad value fails naming the variable. */
export function tracesExporters(env: NodeJS.ProcessEnv = process.env): ('otlp' | 'console')[] {
  if (env.OTEL_SDK_DISABLED === 'true') return [];
  const named = env.OTEL_TRACES_EXPORTER?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // The SDK's default exporter is otlp; here an endpoint alone is also a way to say "on".
  const wanted = named ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? ['otlp'] : []);
  if (wanted.includes('none')) return [];
  const bad = wanted.filter((e) => e !== 'otlp' && e !== 'console');
  if (bad.length > 0) throw new Error(`OTEL_TRACES_EXPORTER: ${bad.join(', ')} is not supported here (expected otlp, console or none)`);
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (wanted.includes('otlp') && protocol !== undefined && protocol !== 'http/protobuf') {
    throw new Error(
      `${env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL'}: ${protocol} is not supported here (expected http/protobuf)`,
    );
  }
  return [...new Set(wanted as ('otlp' | 'console')[])];
}

/** Tracing as OTEL_* configures it for this process (`role`: worker, alert-receiver), or undefined when off. */
export function tracingFromEnv(role: string, env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  const exporters = tracesExporters(env);
  if (exporters.length === 0) return undefined;
  const processors = exporters.map((e) => new BatchSpanProcessor(e === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter()));
  return startTracing(role, processors);
}

/** Registers a tracer provider for this process with the given span processors (tests pass an in-memory exporter). */
export function startTracing(role: string, processors: SpanProcessor[] | SpanExporter): Tracing {
  const list = Array.isArray(processors) ? processors : [new SimpleSpanProcessor(processors)];
  const resource = Resource.default()
    .merge(new Resource({ 'service.name': `failover-manager-${role}`, 'failover.role': role }))
    .merge(envDetectorSync.detect());
  const provider = new NodeTracerProvider({ resource, spanProcessors: list });
  // Global: W3C trace context propagation and an AsyncLocalStorage context manager.
  provider.register();
  const spanProcessor: SpanProcessor = {
    onStart: (span, ctx) => list.forEach((p) => p.onStart(span, ctx)),
    onEnd: (span) => list.forEach((p) => p.onEnd(span)),
    forceFlush: async () => void (await Promise.all(list.map((p) => p.forceFlush()))),
    shutdown: async () => void (await Promise.all(list.map((p) => p.shutdown()))),
  };
  return { tracer: trace.getTracer('failover-manager'), resource, spanProcessor, shutdown: () => provider.shutdown() };
}

/** Workflow interceptor modules tracing adds: the SDK's, and the one that carries an alert's trace into the runbook it causes. */
export function tracingWorkflowModules(): string[] {
  const ts = path.join(__dirname, 'tracing', 'workflow-interceptors.ts');
  return [
    fs.existsSync(ts) ? ts : path.join(__dirname, 'tracing', 'workflow-interceptors.js'),
    require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
  ];
}

/** What a traced worker adds: activity interceptors and the sink that exports workflow spans (the modules come with the bundle). */
export function workerTracing(t: Tracing): Pick<WorkerOptions, 'sinks'> & { activity: NonNullable<NonNullable<WorkerOptions['interceptors']>['activity']> } {
  return {
    activity: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: t.tracer }),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
    sinks: { exporter: makeWorkflowExporter(t.spanProcessor, t.resource) },
  };
}

/** Client interceptors: starts, signals and signal-with-starts carry the caller's trace in their headers. */
export function clientTracing(t: Tracing | undefined): { interceptors?: { workflow: OpenTelemetryWorkflowClientInterceptor[] } } {
  return t ? { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: t.tracer })] } } : {};
}
