import { z } from 'zod';
import { durationSchema } from './duration';
import { InvalidInputError, describeIssues } from './validation';

/** Seed flags may be written as `true`/`false` or as an object with details. */
function flag<T extends z.ZodRawShape>(shape: T) {
  return z.preprocess(
    (v) => (typeof v === 'boolean' ? { enabled: v } : v),
    z.strictObject({ enabled: z.boolean().default(true), ...shape }),
  );
}

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'expected a lowercase name of letters, digits, ".", "_" or "-" (max 63)');
const port = z.number().int().min(1).max(65535);
const host = z.string().min(1);

export const redisEndpointSchema = z.strictObject({
  host,
  port,
  /** Name of an environment variable holding the password; the secret itself never lives in config or history. */
  password_env: z.string().optional(),
});

export const probeSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('redis'), ...redisEndpointSchema.shape }),
  z.strictObject({ type: z.literal('tcp'), host, port }),
]);
export type ProbeConfig = z.infer<typeof probeSchema>;

export const replicationSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('redis'), ...redisEndpointSchema.partial({ host: true, port: true }).shape }),
  z.strictObject({ type: z.literal('none') }),
]);
export type ReplicationConfig = z.infer<typeof replicationSchema>;

export const routerSchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('haproxy'),
      /** Runtime API on a unix socket (`stats socket … level admin`) … */
      socket: z.string().min(1).optional(),
      /** … or on TCP, "host:port". */
      address: z.string().regex(/^[^:]+:\d+$/, 'expected "host:port"').optional(),
      backend: z.string().min(1),
    })
    .refine((r) => (r.socket === undefined) !== (r.address === undefined), {
      message: 'expected exactly one of "socket" or "address"',
    }),
]);
export type RouterConfig = z.infer<typeof routerSchema>;

export const destinationSchema = z.strictObject({
  id,
  zone: z.string().min(1),
  region: z.string().min(1),
  /** 0 = preferred; higher = further away. */
  tier: z.number().int().min(0).default(0),
  /** Intended share when active; relative capacity for active-active. */
  weight: z.number().int().min(0).max(256).default(100),
  probe: probeSchema,
  replication: replicationSchema.default({ type: 'none' }),
  /** The destination's name inside the router (HAProxy server name); defaults to its id. */
  router_server: z.string().min(1).optional(),
});
export type DestinationConfig = z.infer<typeof destinationSchema>;

const detectionSchema = z.strictObject({
  /** Health score (0..1) below which a destination counts as unhealthy. */
  health_threshold: z.number().min(0).max(1).default(0.5),
  /** Consecutive failed probes before a destination is declared down. */
  failure_threshold: z.number().int().min(1).default(3),
  /** Consecutive good probes before a down destination counts as recovered. */
  recovery_threshold: z.number().int().min(1).default(3),
  detection_interval: durationSchema.default('1s'),
  /** Per-probe timeout. */
  timeout: durationSchema.default('2s'),
  /** After a failover, the same destination cannot trigger another one for this long. */
  cooldown: durationSchema.default('5m'),
});

const executionSchema = z.strictObject({
  failover_strategy: z.enum(['active-passive', 'active-active']).default('active-passive'),
  automatic_failover: z.boolean().default(true),
  data_sync: flag({}).prefault({}),
  consistency_check: flag({
    /** Largest lag (driver units: bytes for Redis) a failover may accept without approval. */
    max_lag: z.number().int().min(0).default(1_048_576),
    /** How long to wait for lag to come within bound. */
    timeout: durationSchema.default('30s'),
  }).prefault({}),
  gradual_failover: flag({
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]!) && s[s.length - 1] === 100, {
        message: 'expected increasing percentages ending at 100',
      })
      .default([25, 50, 100]),
    soak: durationSchema.default('30s'),
  }).prefault({}),
  rollback_support: flag({}).prefault({}),
  approval: z
    .strictObject({
      required: z.boolean().default(false),
      timeout: durationSchema.default('10m'),
      default_action: z.enum(['abort', 'proceed']).default('abort'),
    })
    .prefault({}),
  /** How long a fenced (write-paused) source stays paused if the runbook never comes back to it. */
  fence_timeout: durationSchema.default('60s'),
  step_timeout: durationSchema.default('30s'),
});

const recoverySchema = z.strictObject({
  automatic_recovery: z.boolean().default(false),
  gradual_recovery: z.boolean().default(true),
  validation_intervals: z.number().int().min(1).default(5),
  resync_timeout: durationSchema.default('5m'),
});

const redundancySchema = z.strictObject({
  redundancy_level: z.number().int().min(0).default(1),
  load_distribution: z.enum(['capacity', 'equal']).default('capacity'),
  max_eject_percent: z.number().int().min(1).max(100).default(50),
});

const performanceSchema = z.strictObject({
  max_failover_time: durationSchema.default('60s'),
});

const qualitySchema = z.strictObject({
  max_error_rate: z.number().min(0).max(1).default(0.01),
  max_latency: durationSchema.default('500ms'),
});

export const policySchema = z.strictObject({
  failover_detection: detectionSchema.prefault({}),
  failover_execution: executionSchema.prefault({}),
  recovery_management: recoverySchema.prefault({}),
  redundancy_management: redundancySchema.prefault({}),
  performance: performanceSchema.prefault({}),
  quality: qualitySchema.prefault({}),
});
export type Policy = z.infer<typeof policySchema>;

export const serviceSchema = z
  .strictObject({
    name: id,
    description: z.string().optional(),
    router: routerSchema,
    /** Where producers connect (e.g. the HAProxy frontend); used to validate a switch end to end. */
    entrypoint: probeSchema.optional(),
    /** Extra checks every switch step must pass (e.g. a Prometheus error-rate query). */
    validation: z.array(probeSchema).default([]),
    destinations: z.array(destinationSchema).min(1),
  })
  .superRefine((svc, ctx) => {
    const seen = new Map<string, number>();
    svc.destinations.forEach((d, i) => {
      const first = seen.get(d.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', i, 'id'],
          input: d.id,
          message: `duplicate destination id, already used by destinations[${first}]`,
        });
      } else seen.set(d.id, i);
      if (d.replication.type === 'redis' && d.probe.type !== 'redis' && (!d.replication.host || !d.replication.port)) {
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', i, 'replication'],
          input: d.replication,
          message: 'expected host and port (they default to the probe\'s only for a redis probe)',
        });
      }
    });
  });
export type ServiceConfig = z.infer<typeof serviceSchema>;

export const configSchema = z
  .strictObject({
    failover_manager: policySchema.prefault({}),
    services: z.array(serviceSchema).min(1),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.services.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', i, 'name'],
          input: s.name,
          message: `duplicate service name, already used by services[${first}]`,
        });
      } else seen.set(s.name, i);
    });
  });
export type Config = z.infer<typeof configSchema>;

/** Validates already-parsed config data; throws InvalidInputError naming every bad field. */
export function validateConfig(data: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(data, { reportInput: true });
  if (!result.success) throw new InvalidInputError(source, describeIssues(result.error.issues));
  return result.data;
}

export function findService(config: Config, name: string): ServiceConfig | undefined {
  return config.services.find((s) => s.name === name);
}

/** Where a destination's replication driver connects: its own host/port, or the redis probe's. */
export function redisEndpointOf(dest: DestinationConfig): z.infer<typeof redisEndpointSchema> {
  const r = dest.replication;
  const p = dest.probe;
  const fromProbe = p.type === 'redis' ? p : undefined;
  const host = (r.type === 'redis' ? r.host : undefined) ?? fromProbe?.host;
  const port = (r.type === 'redis' ? r.port : undefined) ?? fromProbe?.port;
  if (!host || !port) throw new Error(`destination ${dest.id} has no redis endpoint`);
  const password_env = (r.type === 'redis' ? r.password_env : undefined) ?? fromProbe?.password_env;
  return { host, port, ...(password_env ? { password_env } : {}) };
}

export function routerServerOf(dest: DestinationConfig): string {
  return dest.router_server ?? dest.id;
}
