import fs from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from './domain/validation';

/** Where the config is looked for when neither --config nor $FAILOVER_CONFIG names one. */
export const DEFAULT_CONFIG_FILE = '/etc/failover-manager/failover.yaml';
/** The demo's config: what `npm start` runs when given nothing else (and nothing else falls back to it). */
export const DEMO_CONFIG_FILE = 'config/example.yaml';

/** No --config, no $FAILOVER_CONFIG, and no file at the default: bad input (exit 2), said in one sentence. */
export class ConfigNotFoundError extends InvalidInputError {
  constructor(readonly defaultFile: string) {
    const message =
      `no config file: neither --config nor $FAILOVER_CONFIG names one, and the default ${defaultFile} does not exist. ` +
      `Pass --config FILE or set FAILOVER_CONFIG (the demo that npm start runs uses ${DEMO_CONFIG_FILE}).`;
    super('config location', [message]);
    this.message = message;
  }
}

export interface ConfigLocation {
  file: string;
  /** How it was found, for messages: the flag, the variable, or the default. */
  from: '--config' | 'FAILOVER_CONFIG' | 'default';
}

/**
 * The config file to use: `--config`, else `$FAILOVER_CONFIG`, else `fallback` (the documented
 * default, /etc/failover-manager/failover.yaml; `npm start` passes the demo config instead).
 * A default that does not exist is a clear error, never a quiet switch to another file.
 */
export function locateConfig(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, fallback = DEFAULT_CONFIG_FILE): ConfigLocation {
  if (flag !== undefined && flag !== '') return { file: flag, from: '--config' };
  const fromEnv = env.FAILOVER_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return { file: fromEnv, from: 'FAILOVER_CONFIG' };
  if (!fs.existsSync(fallback)) throw new ConfigNotFoundError(path.resolve(fallback));
  return { file: fallback, from: 'default' };
}
