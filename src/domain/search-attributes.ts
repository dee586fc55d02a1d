import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes registered at dev-server start, so operators can filter runbooks in the Web UI. */
export const SEARCH_ATTRIBUTES = [
  { name: 'Service', type: 'Keyword' },
  { name: 'RunbookKind', type: 'Keyword' },
  { name: 'Trigger', type: 'Keyword' },
] as const;

export const serviceKey = defineSearchAttributeKey('Service', SearchAttributeType.KEYWORD);
export const runbookKindKey = defineSearchAttributeKey('RunbookKind', SearchAttributeType.KEYWORD);
export const triggerKey = defineSearchAttributeKey('Trigger', SearchAttributeType.KEYWORD);

/** What every runbook start sets (the CLI's history, the Web UI's filters and the brakes read them). */
export function runbookSearchAttributes(service: string, kind: string, trigger: string) {
  return [
    { key: serviceKey, value: service },
    { key: runbookKindKey, value: kind },
    { key: triggerKey, value: trigger },
  ];
}
