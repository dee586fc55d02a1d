import fs from 'node:fs';
import { z } from 'zod';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { parseOrThrow } from './domain/validation';

const envShape = {
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'expected "host:port"')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('failover-manager'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** "true" to use TLS with the system's CA (implied by a client cert or an API key). */
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** The config file; left out: --config, or the documented default (src/config-location.ts). */
  FAILOVER_CONFIG: z.string().min(1).optional(),
  /** "true": the worker applies the config file to the live config whenever it changes (as on SIGHUP). */
  FAILOVER_CONFIG_WATCH: z.enum(['true', 'false']).default('false'),
  /** The observer zone this worker probes from (failover_detection.observers); `--zone` on the command line. */
  FAILOVER_OBSERVER_ZONE: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected a zone name')
    .optional(),
  /** Probe routes of this observer: `host:port=host:port,…` (probe the first through the second). */
  FAILOVER_PROBE_ROUTES: z
    .string()
    .regex(/^[^\s=,]+:\d+=[^\s=,]+:\d+(,[^\s=,]+:\d+=[^\s=,]+:\d+)*$/, 'expected "host:port=host:port" pairs separated by ","')
    .optional(),
  /** A prebuilt workflow bundle (see prebuiltWorkflowBundle in src/worker.ts). */
  FAILOVER_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  /** host:port the worker serves Prometheus /metrics on (the SDK's and the manager's); unset: none. */
  FAILOVER_METRICS_ADDRESS: z
    .string()
    .regex(/^\S+:\d+$/, 'expected "host:port", e.g. 0.0.0.0:9464')
    .optional(),
};
/** Every environment variable the worker reads (besides LOG_LEVEL / LOG_FORMAT). */
export const TEMPORAL_ENV_KEYS = Object.keys(envShape);
const envSchema = z.object(envShape).refine((e) => (e.TEMPORAL_TLS_CERT === undefined) === (e.TEMPORAL_TLS_KEY === undefined), {
  message: 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together',
  path: ['TEMPORAL_TLS_CERT'],
});
export type TemporalEnv = z.infer<typeof envSchema>;

/** Connection settings from the environment; a bad value fails naming the variable. */
export function temporalEnv(env: NodeJS.ProcessEnv = process.env): TemporalEnv {
  const picked = Object.fromEntries(Object.entries(env).filter(([k, v]) => (k.startsWith('TEMPORAL_') || k in envShape) && v !== ''));
  return parseOrThrow(envSchema, picked, 'environment');
}

export function connectionOptions(e: TemporalEnv, address: string): NativeConnectionOptions {
  const read = (f: string) => fs.readFileSync(f);
  const useTls = e.TEMPORAL_TLS === 'true' || e.TEMPORAL_TLS_CERT !== undefined || e.TEMPORAL_API_KEY !== undefined;
  return {
    address,
    ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}),
    ...(useTls
      ? {
          tls: {
            ...(e.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME } : {}),
            ...(e.TEMPORAL_TLS_CA ? { serverRootCACertificate: read(e.TEMPORAL_TLS_CA) } : {}),
            ...(e.TEMPORAL_TLS_CERT && e.TEMPORAL_TLS_KEY ? { clientCertPair: { crt: read(e.TEMPORAL_TLS_CERT), key: read(e.TEMPORAL_TLS_KEY) } } : {}),
          },
        }
      : {}),
  };
}

/** FAILOVER_PROBE_ROUTES as a map. */
export function probeRoutes(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  return Object.fromEntries(text.split(',').map((pair) => pair.split('=') as [string, string]));
}
