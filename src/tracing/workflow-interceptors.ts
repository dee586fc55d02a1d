/**
 * Workflow interceptors bundled into the workflow sandbox when tracing is on, listed before the
 * SDK's OpenTelemetry workflow interceptors (so they wrap them). Detection runs for a long time and
 * its trace is the one it was started in; the runbook it starts because of an alert belongs to
 * that alert's trace instead: the trace context of an `alert` signal (the receiver's
 * signal-with-start) becomes the parent of the next child runbook detection starts within 30 s.
 * Deterministic: only workflow time and headers; the OpenTelemetry API is the one the SDK's
 * interceptors patch for the sandbox.
 */
import * as otel from '@opentelemetry/api';
import { extractContextFromHeaders } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import * as wf from '@temporalio/workflow';

const CARRY_MS = 30_000;
const RUNBOOKS = new Set(['failover', 'recovery', 'rebalance', 'maintenance', 'rollback']);

class AlertTrace {
  private pending: { context: otel.Context; atMs: number } | undefined;

  readonly inbound: wf.WorkflowInboundCallsInterceptor = {
    handleSignal: (input, next) => {
      if (input.signalName === 'alert') {
        const context = extractContextFromHeaders(input.headers);
        if (context && otel.trace.getSpanContext(context)) this.pending = { context, atMs: Date.now() };
      }
      return next(input);
    },
  };

  readonly outbound: wf.WorkflowOutboundCallsInterceptor = {
    startChildWorkflowExecution: (input, next) => {
      const carried = this.pending;
      if (!carried || !RUNBOOKS.has(input.workflowType) || Date.now() - carried.atMs > CARRY_MS) return next(input);
      this.pending = undefined;
      return otel.context.with(carried.context, () => next(input));
    },
  };
}

export const interceptors: wf.WorkflowInterceptorsFactory = () => {
  const alert = new AlertTrace();
  return { inbound: [alert.inbound], outbound: [alert.outbound] };
};
