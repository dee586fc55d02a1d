import pino, { type Logger } from 'pino';
import { REDACT } from './security/redact';

/** JSON logs for machines; pretty when a person watches a terminal. */
export function createLogger(name = 'failover-manager'): Logger {
  const level = process.env.LOG_LEVEL ?? 'info';
  if (process.stdout.isTTY && process.env.LOG_FORMAT !== 'json') {
    return pino({ name, level, redact: REDACT, transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } });
  }
  return pino({ name, level, redact: REDACT });
}
