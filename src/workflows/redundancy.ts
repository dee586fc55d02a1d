import * as wf from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '../api/errors';
import type { Activities, ServiceSnapshot } from '../activities';
import { distribute } from '../domain/distribution';
import { assessRedundancy, type RedundancyAssessment, type RedundancyVerdict } from '../domain/redundancy';
import { primaryOf, sameWeights } from '../domain/routing';
import { isResyncing, syncStates } from '../domain/sync';
import { redundancyInputSchema } from '../domain/runbook-input';
import { describeIssues } from '../domain/validation';
import { runbookWorkflowId } from '../domain/workflow-ids';
import { labelRunbook } from './labels';
import { observeHealthyDestinations, observeRouting } from './observability';

export interface RedundancyEvent {
  at: string;
  from: RedundancyVerdict | 'unknown';
  to: RedundancyVerdict;
  reasons: string[];
  action?: string;
}

export interface RedundancyStatus {
  service: string;
  assessment?: RedundancyAssessment;
  checkedAt?: string;
  events: RedundancyEvent[];
}

import { redundancyQuery } from '../api/queries';
export { redundancyQuery };

const healthyBackupsGauge = wf.metricMeter.createGauge('failover_redundancy_healthy_backups', 'int', '', 'healthy backups of a service');
const requiredBackupsGauge = wf.metricMeter.createGauge('failover_redundancy_required_backups', 'int', '', 'redundancy_level of a service');

/**
 * One per service, long-running: every `check_interval` counts healthy backups against
 * `redundancy_level` (overall, other zone, other region, per tier), keeps the `redundancy` query
 * current, raises an alert event when the service drops below its level, and — for active-active
 * services with `rebalance: true` — starts a rebalance when the weights drift from the plan.
 */
export async function redundancy(input: { service: string; carried?: RedundancyStatus }): Promise<void> {
  // Decided in the first activation (see runbookFeatures for why).
  const countsOnlyInSync = wf.patched('redundancy-sync');
  const parsed = redundancyInputSchema.safeParse(input ?? {}, { reportInput: true });
  if (!parsed.success)
    throw wf.ApplicationFailure.nonRetryable(`invalid redundancy input:\n  - ${describeIssues(parsed.error.issues, 'input').join('\n  - ')}`, 'InvalidInput');
  const status: RedundancyStatus = { service: parsed.data.service, events: input.carried?.events ?? [] };
  wf.setHandler(redundancyQuery, () => status);
  const setup = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 5, initialInterval: '500ms' } });
  const { service, policy }: ServiceSnapshot = await setup.loadService(status.service);
  labelRunbook('redundancy', service.name, 'detection');
  const red = policy.redundancy_management;
  const act = wf.proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3, initialInterval: '1s' } });

  for (let round = 0; ; round++) {
    const seen = await act.observeService(service);
    // A backup that answers but is not a copy of the primary (resyncing, diverged) is not a healthy backup.
    const resyncing = countsOnlyInSync
      ? Object.entries(syncStates(service, primaryOf(seen.routing), seen.replication ?? {}, policy.failover_execution.consistency_check.max_lag)).filter(
          ([, v]) => isResyncing(v.state),
        )
      : [];
    const healthy = new Set(seen.healthy.filter((id) => !resyncing.some(([r]) => r === id)));
    const assessment = assessRedundancy({ service, routing: seen.routing, healthy, strategy: policy.failover_execution.failover_strategy, policy: red });
    assessment.reasons.push(...resyncing.map(([id, v]) => `${id} answers but is not a healthy backup: ${v.state} (${v.reason})`));
    const previous = status.assessment?.verdict ?? 'unknown';
    status.assessment = assessment;
    status.checkedAt = new Date().toISOString();
    healthyBackupsGauge.set(assessment.backups.total, { service: service.name });
    requiredBackupsGauge.set(assessment.required.total, { service: service.name });
    observeRouting(service.name, seen.routing);
    observeHealthyDestinations(service.name, seen.healthy.length);
    wf.setCurrentDetails(
      `### redundancy · ${service.name}\n\n**${assessment.verdict}**: ${assessment.backups.total} healthy backups of ${assessment.required.total} required\n\n${assessment.reasons.map((r) => `- ${r}`).join('\n')}`,
    );

    if (assessment.verdict !== previous) {
      // Recorded first, so the query shows the change while the alert is being raised.
      const event: RedundancyEvent = { at: status.checkedAt, from: previous, to: assessment.verdict, reasons: assessment.reasons };
      status.events = [...status.events, event].slice(-20);
      if (assessment.verdict === 'below-level') {
        event.action = 'raising alert';
        await act.raiseRedundancyAlert(
          service.name,
          { verdict: assessment.verdict, reasons: assessment.reasons, healthyBackups: assessment.backups.total, required: assessment.required.total },
          red.alert_webhook,
        );
        event.action = 'alert raised';
      }
    }

    if (red.rebalance && policy.failover_execution.failover_strategy === 'active-active') {
      const down = service.destinations.map((d) => d.id).filter((id) => !healthy.has(id));
      const plan = distribute({
        destinations: service.destinations,
        unhealthy: down,
        mode: red.load_distribution,
        maxEjectPercent: red.max_eject_percent,
        maxLoadFactor: red.max_load_factor,
        offeredLoad: red.offered_load,
      });
      if (!sameWeights(plan.weights, seen.routing.weights)) {
        try {
          await wf.startChild('rebalance', {
            workflowId: runbookWorkflowId(service.name),
            args: [{ service: service.name, reason: 'weights drifted from the plan', actor: 'redundancy', trigger: 'detection' }],
            parentClosePolicy: 'ABANDON',
          });
          status.events = [
            ...status.events,
            { at: status.checkedAt, from: assessment.verdict, to: assessment.verdict, reasons: ['weights drifted from the plan'], action: 'rebalance started' },
          ].slice(-20);
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
      }
    }

    await wf.sleep(red.check_interval);
    if (wf.workflowInfo().continueAsNewSuggested || round >= 500) {
      await wf.condition(wf.allHandlersFinished);
      await wf.continueAsNew<typeof redundancy>({ service: service.name, carried: status });
    }
  }
}
