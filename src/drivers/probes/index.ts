import type { ProbeConfig } from '../../domain/config';
import { probeHttp } from './http';
import { probeNats } from './nats';
import { probePrometheus } from './prometheus';
import { probeRabbitmq } from './rabbitmq';
import { probeRedis } from './redis';
import { probeTcp } from './tcp';
import type { ProbeResult } from './types';

export type { ProbeResult } from './types';

/** `maxErrorRate`: the bound of error-rate probes (quality.max_error_rate), which only validation runs. */
export function runProbe(config: ProbeConfig, timeoutMs: number, opts: { maxErrorRate?: number } = {}): Promise<ProbeResult> {
  switch (config.type) {
    case 'redis':
      return probeRedis(config, timeoutMs);
    case 'tcp':
      return probeTcp(config.host, config.port, timeoutMs);
    case 'http':
      return probeHttp(config, timeoutMs);
    case 'prometheus':
      return probePrometheus(config, timeoutMs, opts);
    case 'nats':
      return probeNats(config, timeoutMs);
    case 'rabbitmq':
      return probeRabbitmq(config, timeoutMs);
  }
}
