export { failover, failoverStatusQuery } from './failover';
