import * as wf from '@temporalio/workflow';
import { runbookKindKey, serviceKey, triggerKey } from '../domain/search-attributes';

/**
 * Sets search attributes when the starter did not (e.g. the Start Workflow form), so every runbook
 * is filterable by service, kind and trigger. Service and kind are facts of this run and are
 * corrected when wrong ("Start Workflow Like This One" copies another run's); the trigger is the
 * starter's word and only filled in.
 */
export function labelRunbook(kind: string, service: string, trigger: string): void {
  const have = wf.workflowInfo().typedSearchAttributes;
  const updates = [
    { key: serviceKey, value: service, fix: true },
    { key: runbookKindKey, value: kind, fix: true },
    { key: triggerKey, value: trigger, fix: false },
  ]
    .filter(({ key, value, fix }) => have.get(key) === undefined || (fix && have.get(key) !== value))
    .map(({ key, value }) => ({ key, value }));
  if (updates.length > 0) wf.upsertSearchAttributes(updates);
}
