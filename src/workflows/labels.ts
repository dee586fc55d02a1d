import * as wf from '@temporalio/workflow';
import { runbookKindKey, serviceKey, triggerKey } from '../domain/search-attributes';

/**
 * Sets search attributes and the Web UI summary when the starter did not (e.g. the Start Workflow
 * form), so every runbook is filterable by service, kind and trigger.
 */
export function labelRunbook(kind: string, service: string, trigger: string): void {
  const have = wf.workflowInfo().typedSearchAttributes;
  const updates = [
    { key: serviceKey, value: service },
    { key: runbookKindKey, value: kind },
    { key: triggerKey, value: trigger },
  ].filter(({ key }) => have.get(key) === undefined);
  if (updates.length > 0) wf.upsertSearchAttributes(updates);
}
