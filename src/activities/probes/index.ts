import type { ProbeConfig } from '../../domain/config';
import { probeRedis } from './redis';
import { probeTcp } from './tcp';
import type { ProbeResult } from './types';

export type { ProbeResult } from './types';

export function runProbe(config: ProbeConfig, timeoutMs: number): Promise<ProbeResult> {
  switch (config.type) {
    case 'redis':
      return probeRedis(config, timeoutMs);
    case 'tcp':
      return probeTcp(config.host, config.port, timeoutMs);
  }
}
