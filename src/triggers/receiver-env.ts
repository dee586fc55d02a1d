import { z } from 'zod';
import { parseOrThrow } from '../domain/validation';

const envShape = {
  /** Overrides alerting.receiver.listen (containers listen on 0.0.0.0, the config file may not say so). */
  ALERT_RECEIVER_LISTEN: z
    .string()
    .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected "host:port"')
    .optional(),
};
/** Variables the receiver reads besides TEMPORAL_*, FAILOVER_CONFIG, LOG_* and the secrets the config names. */
export const RECEIVER_ENV_KEYS = Object.keys(envShape);

export function receiverEnv(env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<typeof envShape>> {
  const picked = Object.fromEntries(Object.entries(env).filter(([k, v]) => RECEIVER_ENV_KEYS.includes(k) && v !== ''));
  return parseOrThrow(z.object(envShape), picked, 'environment');
}
