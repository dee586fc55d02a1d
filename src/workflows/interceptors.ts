/**
 * Workflow interceptors of every runbook worker (registered in createFailoverWorker and bundled
 * with the workflows): counts mutating runbooks as they start and finish, in one place instead of
 * in each runbook, and names the workflow type label as the SDK's metrics do. Emits metrics only; it adds no command, so histories replay unchanged.
 */
import * as wf from '@temporalio/workflow';
import type { MetricTags } from '@temporalio/common';
import { errorType } from './runbook-frame';
import { observeRunbookEnd, observeRunbookStart, runbookRun } from './observability';

class RunbookMetrics implements wf.WorkflowInboundCallsInterceptor {
  async execute(input: wf.WorkflowExecuteInput, next: wf.Next<wf.WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const run = runbookRun(wf.workflowInfo(), input.args[0]);
    if (!run) return next(input);
    observeRunbookStart(run);
    try {
      const result = await next(input);
      observeRunbookEnd(run, { ok: true, result });
      return result;
    } catch (err) {
      if (!(err instanceof wf.ContinueAsNew)) observeRunbookEnd(run, { ok: false, type: errorType(err), cancelled: wf.isCancellation(err) });
      throw err;
    }
  }
}

/** The SDK's own metrics say `workflow_type`; metrics from workflow code get the same label name. */
class MetricTagNames implements wf.WorkflowOutboundCallsInterceptor {
  getMetricTags(input: wf.GetMetricTagsInput, next: wf.Next<wf.WorkflowOutboundCallsInterceptor, 'getMetricTags'>): MetricTags {
    const { workflowType, ...rest } = next(input);
    return workflowType === undefined ? rest : { ...rest, workflow_type: workflowType };
  }
}

export const interceptors: wf.WorkflowInterceptorsFactory = () => ({ inbound: [new RunbookMetrics()], outbound: [new MetricTagNames()] });
