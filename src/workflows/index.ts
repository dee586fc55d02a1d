export { failover } from './failover';
export { detection, alertSignal, healthQuery } from './detection';
export { consistencyCheck } from './consistency-check';
export { statusQuery } from './runbook-frame';
export { approveUpdate, pauseUpdate, resumeUpdate, abortUpdate } from './controls';
export { recovery } from './recovery';
export { rollback } from './rollback';
export { rebalance } from './rebalance';
export { redundancy, redundancyQuery } from './redundancy';
