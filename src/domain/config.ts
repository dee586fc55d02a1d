import { z } from 'zod';
import { boundedDuration, durationToMs } from './duration';
import { HAPROXY_NAME, HAPROXY_NAME_MESSAGE, haproxyNameSchema } from './haproxy-names';
import { RESERVED_ACTORS, ed25519PublicKey, isReservedActor } from './control-auth';
import { regexBacktrackingProblem } from './regex-safety';
import { maintenanceWindowSchema } from './runbook-input';
import { URL_CREDENTIALS_MESSAGE, envNameSchema, looksLikeCredential, looksSecretHeader, urlHasCredentials } from './secrets';
import { InvalidInputError, describeIssues } from './validation';
import { closestKey, keysAt } from './schema-keys';
import { CONSUMED_SEED_KEYS, normalizeSeedKeys, seedKeyWarnings } from './seed-keys';

/**
 * A JavaScript regular expression that cannot backtrack catastrophically: routes match labels of
 * incoming alerts and probes match bodies of answers, both text from outside.
 */
const safeRegexString = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected a valid JavaScript regular expression' });
    return;
  }
  const problem = regexBacktrackingProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Seed flags may be written as `true`/`false` or as an object with details. */
function flag<T extends z.ZodRawShape>(shape: T) {
  return z.preprocess((v) => (typeof v === 'boolean' ? { enabled: v } : v), z.strictObject({ enabled: z.boolean().default(true), ...shape }));
}

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'expected a lowercase name of letters, digits, ".", "_" or "-" (max 63)');
const port = z.number().int().min(1).max(65535);
const host = z.string().min(1);

export const redisEndpointSchema = z.strictObject({
  host,
  port,
  /** Name of an environment variable holding the password; the secret itself never lives in config or history. */
  password_env: envNameSchema.optional(),
});

/** A URL with an http: or https: scheme. */
const httpUrl = z
  .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
  .refine((s) => !urlHasCredentials(s), { message: URL_CREDENTIALS_MESSAGE });
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name');

/** TLS for HTTPS drivers. The CA file is read at each call, so it can be rotated without a reload. */
export const tlsSchema = z.strictObject({
  ca_file: z.string().min(1).optional(),
  /** Accept any certificate (self-signed, wrong name): for labs only. */
  insecure_skip_verify: z.boolean().default(false),
  /** Name sent as SNI and checked against the certificate when it differs from the URL's host. */
  server_name: z.string().min(1).optional(),
});
export type TlsConfig = z.infer<typeof tlsSchema>;

/** A secret header whose value is read from an environment variable: the secret never lives in config or history. */
const authShape = {
  auth_header: headerName.default('Authorization'),
  auth_env: envNameSchema.optional(),
};

const statusMessage = 'expected a status code (200), a class ("2xx") or a range ("200-399")';
const statusPattern = z
  .union([z.number(), z.string()], { error: statusMessage })
  .refine(
    (v) =>
      typeof v === 'number'
        ? Number.isInteger(v) && v >= 100 && v <= 599
        : /^([1-5]xx|[1-5]\d\d(-[1-5]\d\d)?)$/.test(v) && (!v.includes('-') || Number(v.slice(0, 3)) <= Number(v.slice(4))),
    { message: statusMessage },
  );

export const httpProbeSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('http'),
    url: httpUrl,
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'OPTIONS']).default('GET'),
    /** Plain headers; a header that carries a credential goes in `headers_env` instead. */
    headers: z
      .record(headerName, z.string())
      .superRefine((h, ctx) => {
        for (const [name, value] of Object.entries(h)) {
          if (looksSecretHeader(name) || looksLikeCredential(value)) {
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: `expected no credential in the config text; name an environment variable in headers_env: { ${name}: MY_ENV }`,
            });
          }
        }
      })
      .optional(),
    /** Headers whose values are read from environment variables (header name → variable name). */
    headers_env: z.record(headerName, envNameSchema).optional(),
    /** Request body, sent as is. */
    body: z.string().optional(),
    /** Statuses counted as up: codes, classes and ranges; one value or a list. */
    expect_status: z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(statusPattern).min(1)).default(['2xx']),
    /** Substring the response body must contain (first 64 KiB). */
    expect_body: z.string().min(1).optional(),
    /** JavaScript regular expression the response body must match (first 64 KiB). */
    expect_body_regex: z.string().min(1).pipe(safeRegexString).optional(),
    /** A slower answer counts as down (failure "error"), so a destination that is up but too slow is failed over. */
    max_latency: boundedDuration('1ms', '5m').optional(),
    tls: tlsSchema.optional(),
    ...authShape,
  }),
);
export type HttpProbeConfig = z.infer<typeof httpProbeSchema>;

export const prometheusProbeSchema = z.lazy(() =>
  z
    .strictObject({
      type: z.literal('prometheus'),
      /** Base URL of the Prometheus HTTP API, the part before `/api/v1`. */
      url: httpUrl,
      /** Instant PromQL query; must return one sample (aggregate with sum/max/min if it could return more). */
      query: z.string().min(1),
      /** Up when `value <op> threshold` holds: the comparison describes what healthy looks like. */
      op: z.enum(['>', '<', '>=', '<=', '==', '!=']).optional(),
      threshold: z.number().optional(),
      /** The query returns an error ratio (0..1): passes when it is at most quality.max_error_rate. Only under a service's `validation`. */
      error_rate: z.literal(true).optional(),
      /** Verdict when the query returns no sample (metric absent, target gone). */
      on_empty: z.enum(['down', 'up']).default('down'),
      tls: tlsSchema.optional(),
      ...authShape,
    })
    .superRefine(
      (p, ctx) => {
        if (p.error_rate === true) {
          if (p.op !== undefined || p.threshold !== undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['error_rate'],
              message: 'expected either error_rate: true (bounded by quality.max_error_rate) or op and threshold, not both',
            });
          }
          return;
        }
        if (p.op === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['op'],
            input: undefined,
            message: 'expected a comparison (">", "<", ">=", "<=", "==", "!="), or error_rate: true',
          });
        if (p.threshold === undefined)
          ctx.addIssue({ code: 'custom', path: ['threshold'], input: undefined, message: 'expected a number, or error_rate: true' });
      },
      // Also when other fields are bad, so every problem is named at once.
      { when: () => true },
    ),
);
export type PrometheusProbeConfig = z.infer<typeof prometheusProbeSchema>;

/** The embedded default router: a JSON routing table file per service, written atomically. */
export const fileRouterSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('file'),
    path: z.string().min(1),
  }),
);

/** Routing held by the user's own service, reached over HTTP (contract: docs/drivers/webhook-router.md). */
export const webhookRouterSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('http-webhook'),
    /** Receives `PUT` of the desired weights. */
    url: httpUrl,
    /** Answers `GET` with the current routing; defaults to `url`. */
    read_url: httpUrl.optional(),
    ...authShape,
    timeout: boundedDuration('100ms', '5m').default('5s'),
    tls: tlsSchema.optional(),
  }),
);

/** A NATS server: "nats://host:port", "tls://host:port" or "host:port"; a list for a cluster. */
const natsServer = z.string().regex(/^((nats|tls):\/\/)?[^\s/:@]+(:\d{1,5})?$/, 'expected "nats://host:port", "tls://host:port" or "host:port"');
const envName = envNameSchema;

/** How the NATS drivers connect. Secrets come from environment variables, never from config or history. */
const natsConnectionShape = {
  url: z.union([natsServer, z.array(natsServer).min(1)]),
  user: z.string().min(1).optional(),
  password_env: envName.optional(),
  token_env: envName.optional(),
};
function natsAuthValid(c: { user?: string; password_env?: string; token_env?: string }): boolean {
  return (c.user === undefined) === (c.password_env === undefined) && !(c.user !== undefined && c.token_env !== undefined);
}
const natsAuthMessage = { message: 'expected "user" with "password_env", or "token_env", or neither', path: ['user'] };

/** A JetStream stream name: no whitespace, ".", "*", ">", path separators. */
const streamName = z.string().regex(/^[^\s.*>/\\]{1,255}$/, 'expected a stream name without whitespace, ".", "*", ">", "/" or "\\"');
/** A subject, wildcards ("*", a final ">") allowed as whole tokens. */
const natsSubject = z
  .string()
  .regex(/^(?:[^\s.*>]+|\*)(?:\.(?:[^\s.*>]+|\*))*(?:\.>)?$|^>$/, 'expected a subject such as "orders.>" (tokens separated by ".", wildcards as whole tokens)');

export const natsProbeSchema = z.lazy(() =>
  z
    .strictObject({
      type: z.literal('nats'),
      ...natsConnectionShape,
      /** Also read this stream: last sequence as offset; for a mirror/sourced stream, its lag and whether it advances. */
      stream: streamName.optional(),
      /** A standby that has not heard from its upstream (message or 1s heartbeat) for longer is stalled. */
      stall_after: boundedDuration('100ms', '1h').default('3s'),
    })
    .refine(natsAuthValid, natsAuthMessage),
);
export type NatsProbeConfig = z.infer<typeof natsProbeSchema>;

export const natsJetStreamReplicationSchema = z.lazy(() =>
  z
    .strictObject({
      type: z.literal('nats-jetstream'),
      ...natsConnectionShape,
      /** This destination's stream: the writable one on the primary, the mirror/sourced one on a standby. */
      stream: streamName,
      /** The subjects the stream takes when writable; a standby has none, so promotion needs them from here. */
      subjects: z.array(natsSubject).min(1),
      stall_after: boundedDuration('100ms', '1h').default('3s'),
      /** `recreate`: follow() re-creates the old primary's stream as a standby once all of it is on the new primary; `manual`: it only reports. */
      follow: z.enum(['recreate', 'manual']).default('recreate'),
    })
    .refine(natsAuthValid, natsAuthMessage),
);
export type NatsJetStreamReplicationConfig = z.infer<typeof natsJetStreamReplicationSchema>;

/** Routing in a NATS KV bucket key, written with the key's revision as compare-and-set. */
export const natsKvRouterSchema = z.lazy(() =>
  z
    .strictObject({
      type: z.literal('nats-kv'),
      ...natsConnectionShape,
      bucket: z.string().regex(/^[-\w]{1,255}$/, 'expected a bucket name of letters, digits, "_" or "-"'),
      key: z.string().regex(/^[-/=\w]+(\.[-/=\w]+)*$/, 'expected a key of letters, digits, "-", "/", "_", "=" and "." (not at the ends)'),
    })
    .refine(natsAuthValid, natsAuthMessage),
);
export type NatsKvRouterConfig = z.infer<typeof natsKvRouterSchema>;

function parsedUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

/** An AMQP 0-9-1 broker: `amqp[s]://host[:port][/vhost]`, credentials from environment variables only. */
const amqpUrl = z
  .url({ protocol: /^amqps?$/, error: 'expected an amqp:// or amqps:// URL' })
  .refine((s) => !parsedUrl(s)?.username && !parsedUrl(s)?.password, {
    message: 'expected no credentials in the URL; name environment variables in user_env / password_env',
  })
  .refine((s) => {
    const u = parsedUrl(s);
    return !u || (u.hostname !== '' && u.search === '' && u.hash === '' && !u.pathname.slice(1).includes('/'));
  }, 'expected amqp://host[:port][/vhost], the vhost URL-encoded ("/" is the default, or %2F)');
const rabbitmqConnectionShape = {
  url: amqpUrl,
  /** Environment variables holding the user name and password; both left out: guest/guest. */
  user_env: envName.optional(),
  password_env: envName.optional(),
};
const rabbitmqAuthValid = (c: { user_env?: string; password_env?: string }) => (c.user_env === undefined) === (c.password_env === undefined);
const rabbitmqAuthMessage = { message: 'expected both "user_env" and "password_env", or neither', path: ['user_env'] };
const queueName = z.string().min(1).max(255);

export const rabbitmqProbeSchema = z.lazy(() =>
  z
    .strictObject({
      type: z.literal('rabbitmq'),
      ...rabbitmqConnectionShape,
      /** Also read this queue's depth and consumer count; a missing queue counts as down. */
      queue: queueName.optional(),
      /** Management API base URL (e.g. http://host:15672): read the queue there instead of over AMQP. */
      management_url: httpUrl.optional(),
    })
    .refine(rabbitmqAuthValid, rabbitmqAuthMessage),
);
export type RabbitmqProbeConfig = z.infer<typeof rabbitmqProbeSchema>;

/** Drain check for independent brokers: lag = messages left in `queues` on the source; the fence is a queue policy. */
export const rabbitmqReplicationSchema = z.lazy(() =>
  z
    .strictObject({
      type: z.literal('rabbitmq'),
      ...rabbitmqConnectionShape,
      /** Management API base URL; the fence is applied through it. */
      management_url: httpUrl,
      queues: z.array(queueName).min(1),
    })
    .refine(rabbitmqAuthValid, rabbitmqAuthMessage),
);
export type RabbitmqReplicationConfig = z.infer<typeof rabbitmqReplicationSchema>;

export const probeSchema = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('redis'), ...redisEndpointSchema.shape }),
    z.strictObject({ type: z.literal('tcp'), host, port }),
    httpProbeSchema,
    prometheusProbeSchema,
    natsProbeSchema,
    rabbitmqProbeSchema,
  ]),
);
export type ProbeConfig = z.infer<typeof probeSchema>;

export const replicationSchema = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('redis'), ...redisEndpointSchema.partial({ host: true, port: true }).shape }),
    z.strictObject({ type: z.literal('none') }),
    natsJetStreamReplicationSchema,
    rabbitmqReplicationSchema,
  ]),
);
export type ReplicationConfig = z.infer<typeof replicationSchema>;

export const routerSchema = z.lazy(() =>
  z.discriminatedUnion('type', [
    z
      .strictObject({
        type: z.literal('haproxy'),
        /** Runtime API on a unix socket (`stats socket … level admin`) … */
        socket: z.string().min(1).optional(),
        /** … or on TCP, "host:port". */
        address: z
          .string()
          .regex(/^[^:]+:\d+$/, 'expected "host:port"')
          .optional(),
        backend: haproxyNameSchema,
      })
      .refine((r) => (r.socket === undefined) !== (r.address === undefined), {
        message: 'expected exactly one of "socket" or "address"',
      }),
    fileRouterSchema,
    webhookRouterSchema,
    natsKvRouterSchema,
  ]),
);
export type RouterConfig = z.infer<typeof routerSchema>;

export const destinationSchema = z.lazy(() =>
  z.strictObject({
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
  }),
);
export type DestinationConfig = z.infer<typeof destinationSchema>;

const detectionSchema = z.lazy(() =>
  z
    .strictObject({
      /** Health score (0..1) below which a destination counts as unhealthy. */
      health_threshold: z.number().min(0).max(1).default(0.5),
      /** Consecutive failed probes before a destination is declared down. */
      failure_threshold: z.number().int().min(1).default(3),
      /** Consecutive good probes before a down destination counts as recovered. */
      recovery_threshold: z.number().int().min(1).default(3),
      detection_interval: boundedDuration('10ms', '1h').default('1s'),
      /** Per-probe timeout. */
      timeout: boundedDuration('10ms', '5m').default('2s'),
      /** After a failover, the same destination cannot trigger another one for this long. */
      cooldown: boundedDuration('1s', '7d').default('5m'),
      /**
       * Observer zones: every destination is probed from a worker in each (`--zone`), and a destination is
       * down only when `quorum` of them see it down. Empty: one observer, any worker.
       */
      observers: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected a zone name of letters, digits, ".", "_" or "-"')).default([]),
      quorum: z.number().int().min(1).default(1),
      /**
       * Call a destination down after one failed probe when the evidence is certain: its port refuses,
       * its replicas report their link to it down, and the router's own path to it fails.
       */
      intelligent_detection: z.boolean().default(false),
      /** How often each watch reads the router to see that it still has the decided routing. */
      router_check_interval: boundedDuration('100ms', '1h').default('5s'),
    })
    .refine((d) => d.quorum <= Math.max(1, d.observers.length), {
      message: 'expected a quorum no larger than the number of observers (1 when none are listed)',
      path: ['quorum'],
    })
    .refine((d) => new Set(d.observers).size === d.observers.length, { message: 'expected each observer zone once', path: ['observers'] }),
);

/** A person who may act on runbooks: never a name the system acts under. */
const personName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((n) => !isReservedActor(n), { message: `expected a person's name, not one the system acts under (${RESERVED_ACTORS.join(', ')})` });
const ed25519KeyText = z
  .string()
  .refine((k) => ed25519PublicKey(k) !== undefined, { message: 'expected an Ed25519 public key: base64 of 32 bytes, of SPKI DER, or a PEM block' });

const executionSchema = z.lazy(() =>
  z
    .strictObject({
      failover_strategy: z.enum(['active-passive', 'active-active']).default('active-passive'),
      automatic_failover: z.boolean().default(true),
      data_sync: flag({}).prefault({}),
      consistency_check: flag({
        /** Largest lag (driver units: bytes for Redis) a failover may accept without approval. */
        max_lag: z.number().int().min(0).default(1_048_576),
        /** How long to wait for lag to come within bound. */
        timeout: boundedDuration('100ms', '1h').default('30s'),
      }).prefault({}),
      gradual_failover: flag({
        steps: z
          .array(z.number().int().min(1).max(100))
          .min(1)
          .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]!) && s[s.length - 1] === 100, {
            message: 'expected increasing percentages ending at 100',
          })
          .default([25, 50, 100]),
        soak: boundedDuration('0s', '1d').default('30s'),
      }).prefault({}),
      rollback_support: flag({}).prefault({}),
      approval: z
        .strictObject({
          required: z.boolean().default(false),
          timeout: boundedDuration('1s', '7d').default('10m'),
          default_action: z.enum(['abort', 'proceed']).default('abort'),
          /** Who may approve, pause, resume or abort a runbook of this service; empty: anyone who can reach Temporal. */
          approvers: z.array(personName).default([]),
          /** The approver must not be who started the runbook; default: on when approvers are listed. */
          four_eyes: z.boolean().optional(),
          /** Approver name → Ed25519 public key (base64 raw or SPKI DER, or PEM): their requests must be signed (CLI --key). */
          keys: z.record(z.string().min(1).max(200), ed25519KeyText).default({}),
          /** `required`: a person's runbook start must be signed (CLI --key); `optional`: unsigned starts run, recorded as unverified. */
          signed_starts: z.enum(['optional', 'required']).default('optional'),
        })
        .prefault({}),
      /** How long a fenced (write-paused) source stays paused if the runbook never comes back to it. */
      fence_timeout: boundedDuration('1s', '1h').default('90s'),
      step_timeout: boundedDuration('1s', '1h').default('30s'),
      /** Detection-started failovers stay inside the regions already carrying traffic; crossing needs a person. */
      never_cross_region_automatically: z.boolean().default(false),
      /** Any failover that starts sending traffic into another region waits for approval. */
      approval_for_cross_region: z.boolean().default(false),
      /** How a target is chosen: proximity (zone, region, tier) or intelligent (learned score, proximity breaks ties). */
      target_selection: z.enum(['proximity', 'intelligent']).default('proximity'),
      /**
       * Emergency failover with no observation of the source: a replica whose link to it has been down
       * longer than this holds an unknown part of the data and is not promoted without someone accepting the loss.
       */
      max_link_down: boundedDuration('1s', '30d').default('30s'),
      /** The router no longer has the decided routing (a reload, a hand edit): write it back at once, or wait for approval. */
      router_drift: z.enum(['reassert', 'approve']).default('reassert'),
      /** Seed key: accepted; has no effect until runbook metrics are exported (a load-time warning says so). */
      performance_monitoring: z.boolean().optional(),
    })
    .refine((e) => (durationToMs(e.fence_timeout) ?? 0) > (durationToMs(e.consistency_check.timeout) ?? 0) + (durationToMs(e.step_timeout) ?? 0), {
      message: 'expected fence_timeout longer than consistency_check.timeout + step_timeout: a fence must outlast the catch-up it protects',
      path: ['fence_timeout'],
    }),
);

const recoverySchema = z.lazy(() =>
  z.strictObject({
    /**
     * Seed key: `automatic` and `intelligent` imply automatic_recovery, `manual` turns it off (src/domain/seed-keys.ts).
     * `intelligent`: detection fails back by itself only to a destination in a more preferred tier than the
     * one carrying traffic; within the same tier traffic stays where it is and the returned node stays a standby.
     */
    recovery_strategy: z.enum(['automatic', 'intelligent', 'manual']).optional(),
    automatic_recovery: z.boolean().default(false),
    gradual_recovery: z.boolean().default(true),
    validation_intervals: z.number().int().min(1).default(5),
    resync_timeout: boundedDuration('1s', '1d').default('5m'),
    /**
     * A backup that answers but does not replicate from the current primary (a returned old primary,
     * a standby restarted empty) is re-attached as its replica at once, whatever automatic_recovery says.
     */
    resync_returning: z.boolean().default(true),
    /** Before a resync discards data the primary lacks, keep an RDB snapshot of the node in this directory (on the worker's host). */
    divergent_copy_dir: z.string().min(1).optional(),
    /** A failed automatic resync or failback is tried again after this, doubling up to retry_backoff_max. */
    retry_backoff: boundedDuration('100ms', '1h').default('10s'),
    retry_backoff_max: boundedDuration('100ms', '1d').default('5m'),
    /** Failed attempts in a row after which an alert event is raised (and retries go on). */
    alert_after_attempts: z.number().int().min(1).default(3),
    /** Before failback, each of the validation_intervals probes must also answer within quality.max_latency. */
    performance_validation: z.boolean().default(false),
    /** Seed keys that describe what always happens; `false` cannot be honoured and is warned about at load. */
    health_monitoring: z.boolean().optional(),
    health_validation: z.boolean().optional(),
  }),
);

const redundancySchema = z.lazy(() =>
  z.strictObject({
    redundancy_level: z.number().int().min(0).default(1),
    load_distribution: z.enum(['capacity', 'equal']).default('capacity'),
    max_eject_percent: z.number().int().min(1).max(100).default(50),
    /** No destination is given more than capacity × this (Envoy's overprovisioning factor); the rest spills to the next tier. */
    max_load_factor: z.number().min(1).max(10).default(1.4),
    /** Traffic relative to the preferred tier's full capacity (1 = that tier runs at its nominal capacity). */
    offered_load: z.number().positive().max(100).default(1),
    /** Detection intervals over which a returning active-active destination ramps up to its full weight (0 = at once). */
    slow_start_steps: z.number().int().min(0).max(1000).default(0),
    /** Healthy backups required outside the primary's zone, and outside its region. */
    other_zone_backups: z.number().int().min(0).default(0),
    other_region_backups: z.number().int().min(0).default(0),
    /** How often the redundancy runbook re-assesses a service. */
    check_interval: boundedDuration('100ms', '1d').default('1m'),
    /** Active-active: let the redundancy runbook start a rebalance when weights drift from the plan. */
    rebalance: z.boolean().default(false),
    /** Optional URL that receives a JSON POST when a service drops below its redundancy level. */
    alert_webhook: httpUrl.optional(),
    /** Seed key describing what always happens (distribution within capacity × max_load_factor); `false` is warned about. */
    resource_management: z.boolean().optional(),
  }),
);

const performanceSchema = z.lazy(() =>
  z.strictObject({
    /** RTO objective of a failover: start until the target carries traffic. Beyond it an alert event is raised and the run is marked. */
    max_failover_time: boundedDuration('1s', '1d').default('60s'),
    /** Seed keys with nothing to act on here; a load-time warning says why (src/domain/seed-keys.ts). */
    caching: z.boolean().optional(),
    parallel_processing: z.boolean().optional(),
    optimization: z.boolean().optional(),
  }),
);

const qualitySchema = z.lazy(() =>
  z.strictObject({
    /** Bound for validation probes that measure an error ratio (`error_rate: true` Prometheus probes under `validation`). */
    max_error_rate: z.number().min(0).max(1).default(0.01),
    max_latency: boundedDuration('1ms', '5m').default('500ms'),
    /** Failover outcomes (held or rolled back) teach the learned ranking; false: only probes do. */
    learning: z.boolean().default(true),
    /** Seed key: accepted; has no effect until runbook metrics are exported (a load-time warning says so). */
    quality_metrics: z.boolean().optional(),
  }),
);

/** Where alert events go (approval needed, an automatic runbook failing, redundancy below level, a runbook held by the brakes). */
const notificationsSchema = z.lazy(() =>
  z.strictObject({
    /** Receives a JSON POST per alert event. */
    webhook: httpUrl.optional(),
    /** Alertmanager base URLs (http://host:9093): events are posted to their v2 API and route like any alert. */
    alertmanager: z.array(httpUrl).default([]),
    /** How the commands printed in notices start (`failover` when installed as a binary). */
    cli: z.string().min(1).max(200).default('npm run -s cli --'),
  }),
);

/** The control plane: what keeps every configured service watched (see docs/control-plane.md). */
const supervisionSchema = z.lazy(() =>
  z.strictObject({
    /** Workers start the supervisor, which keeps detection (and redundancy) running for every configured service. */
    enabled: z.boolean().default(true),
    /** How often the supervisor compares the running runbooks with the config (and restarts what is missing). */
    reconcile_interval: boundedDuration('1s', '1h').default('15s'),
    /** Also keep the redundancy runbook running for every service. */
    redundancy: z.boolean().default(true),
  }),
);

/** Limits on what runs without a person, for the whole fleet. */
const brakesSchema = z.lazy(() =>
  z.strictObject({
    /** Automatic runbooks that move traffic (failover, failback, rebalance) allowed to start per window, across all services. */
    max_automatic_runbooks: z.number().int().min(1).default(3),
    window: boundedDuration('1s', '7d').default('10m'),
  }),
);

/** Who may change the live config (apply, rollback); see SECURITY.md. */
const configChangesSchema = z.lazy(() =>
  z.strictObject({
    /** Only they may apply or roll back a config version, each request signed; empty: anyone who can reach the supervisor. */
    appliers: z.array(personName).default([]),
    /** Applier name → Ed25519 public key; a name not listed here is looked up in failover_execution.approval.keys. */
    keys: z.record(z.string().min(1).max(200), ed25519KeyText).default({}),
  }),
);

export const policySchema = z.lazy(() =>
  z.strictObject({
    failover_detection: detectionSchema.prefault({}),
    failover_execution: executionSchema.prefault({}),
    recovery_management: recoverySchema.prefault({}),
    redundancy_management: redundancySchema.prefault({}),
    performance: performanceSchema.prefault({}),
    quality: qualitySchema.prefault({}),
    notifications: notificationsSchema.prefault({}),
    supervision: supervisionSchema.prefault({}),
    brakes: brakesSchema.prefault({}),
    config_changes: configChangesSchema.prefault({}),
  }),
);
export type Policy = z.infer<typeof policySchema>;

/** Policy sections a service may set for itself; notifications, supervision and brakes stay fleet-wide. */
export const SERVICE_POLICY_SECTIONS = [
  'failover_detection',
  'failover_execution',
  'recovery_management',
  'redundancy_management',
  'performance',
  'quality',
] as const;
export type ServicePolicySection = (typeof SERVICE_POLICY_SECTIONS)[number];
const policySection = z.record(z.string(), z.unknown(), { error: 'expected an object of policy keys, as in failover_manager' });
/**
 * A service's own policy: keys it sets override the fleet's `failover_manager` ones (objects are
 * merged key by key). Kept as written; checked against the policy schema merged with the fleet's.
 */
const servicePolicySchema = z.lazy(() =>
  z.strictObject(
    Object.fromEntries(SERVICE_POLICY_SECTIONS.map((s) => [s, policySection.optional()])) as Record<ServicePolicySection, z.ZodOptional<typeof policySection>>,
  ),
);
export type ServicePolicy = z.infer<typeof servicePolicySchema>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `over` on top of `base`: objects merged key by key, anything else (values, lists, flags written as booleans) replaced. */
function mergeOver(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeOver(base[k], v);
  return out;
}

/** The fleet policy with a service's own keys on top, validated: the issues name paths inside the policy. */
export function mergeServicePolicy(fleet: Policy, own: ServicePolicy | undefined) {
  return policySchema.safeParse(own ? mergeOver(fleet, own) : fleet, { reportInput: true });
}

const effectivePolicies = new WeakMap<Config, Map<string, Policy>>();

/** The policy a service runs with: the fleet's `failover_manager`, with the service's own `policy` keys on top. */
export function policyOf(config: Config, serviceName: string): Policy {
  const own = findService(config, serviceName)?.policy;
  if (!own) return config.failover_manager;
  let byService = effectivePolicies.get(config);
  if (!byService) effectivePolicies.set(config, (byService = new Map()));
  let policy = byService.get(serviceName);
  if (!policy) {
    const merged = mergeServicePolicy(config.failover_manager, own);
    // A validated config never gets here with a bad merge (configSchema checks it); fall back rather than throw.
    policy = merged.success ? merged.data : config.failover_manager;
    byService.set(serviceName, policy);
  }
  return policy;
}

export const serviceSchema = z.lazy(() =>
  z
    .strictObject({
      name: id,
      description: z.string().optional(),
      router: routerSchema,
      /** Where producers connect (e.g. the HAProxy frontend); used to validate a switch end to end. */
      entrypoint: probeSchema.optional(),
      /** Extra checks every switch step must pass (e.g. a Prometheus error-rate query). */
      validation: z.array(probeSchema).default([]),
      destinations: z.array(destinationSchema).min(1),
      /** This service's own policy keys (strategy, detection, execution, recovery, redundancy), over the fleet's. */
      policy: servicePolicySchema.optional(),
    })
    .superRefine((svc, ctx) => {
      if (svc.entrypoint?.type === 'prometheus' && svc.entrypoint.error_rate) {
        ctx.addIssue({
          code: 'custom',
          path: ['entrypoint', 'error_rate'],
          message: "expected op and threshold: error_rate probes belong under the service's validation",
        });
      }
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
        // HAProxy server names go into runtime-API command lines: only its identifier charset.
        if (svc.router.type === 'haproxy' && d.router_server !== undefined && !HAPROXY_NAME.test(d.router_server)) {
          ctx.addIssue({ code: 'custom', path: ['destinations', i, 'router_server'], input: d.router_server, message: HAPROXY_NAME_MESSAGE });
        }
        if (d.probe.type === 'prometheus' && d.probe.error_rate) {
          ctx.addIssue({
            code: 'custom',
            path: ['destinations', i, 'probe', 'error_rate'],
            message: "expected op and threshold: error_rate probes belong under the service's validation",
          });
        }
        if (d.replication.type === 'redis' && d.probe.type !== 'redis' && (!d.replication.host || !d.replication.port)) {
          ctx.addIssue({
            code: 'custom',
            path: ['destinations', i, 'replication'],
            input: d.replication,
            message: "expected host and port (they default to the probe's only for a redis probe)",
          });
        }
      });
    }),
);
export type ServiceConfig = z.infer<typeof serviceSchema>;

/** A JavaScript regular expression, checked when the config is read. */
const regexString = safeRegexString;
const labelName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a label name (letters, digits, "_"; not starting with a digit)');
/** A label value to match exactly, or `{regex}` matched against the whole value (anchored, as Prometheus does). */
const labelMatcherSchema = z.lazy(() =>
  z.union([z.string(), z.strictObject({ regex: regexString })], {
    error: 'expected a label value (exact match) or {regex: "..."}',
  }),
);

export const alertRouteSchema = z.lazy(() =>
  z
    .strictObject({
      /** Every listed label must match; a missing label matches "" only. */
      match: z
        .record(z.string(), labelMatcherSchema)
        .superRefine((m, ctx) => {
          for (const key of Object.keys(m)) {
            if (!labelName.safeParse(key).success)
              ctx.addIssue({ code: 'custom', path: [key], input: key, message: 'expected a label name (letters, digits, "_"; not starting with a digit)' });
          }
        })
        .default({}),
      /** The service the alert is about … */
      service: id.optional(),
      /** … or the label naming it (alerts without that label do not match this route). */
      service_label: labelName.optional(),
      /** Label whose value is the destination id; absent from an alert = the service's current primary. */
      destination_label: labelName.optional(),
      /**
       * What a matching alert means for its destination: `down` or `degraded` (detection acts on it
       * like on failed probes), `recovered` (lifts holds), `ignore` (recorded by the receiver only).
       * Nothing means down unless a route says so.
       */
      means: z.enum(['down', 'degraded', 'recovered', 'ignore']).default('ignore'),
    })
    .refine((r) => (r.service === undefined) !== (r.service_label === undefined), {
      message: 'expected exactly one of "service" or "service_label"',
      path: ['service'],
    }),
);
export type AlertRouteConfig = z.infer<typeof alertRouteSchema>;

export const alertReceiverSchema = z.lazy(() =>
  z
    .strictObject({
      /** host:port to listen on. */
      listen: z
        .string()
        .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected "host:port"')
        .default('127.0.0.1:9095'),
      /** Environment variable holding the bearer token senders must present. */
      token_env: envName.optional(),
      /** Environment variable holding the HMAC-SHA256 secret the raw body is signed with. */
      hmac_secret_env: envName.optional(),
      /** Header carrying the signature, `sha256=<hex>` or bare hex (Grafana: X-Grafana-Alerting-Signature). */
      hmac_header: headerName.default('X-Signature'),
      /**
       * Header with the unix time (seconds) the sender signed: the signature covers `<timestamp>:<body>`, and a
       * request without a timestamp within `hmac_max_skew` of now is refused, so a captured request cannot be replayed later.
       */
      hmac_timestamp_header: headerName.default('X-Signature-Timestamp'),
      hmac_max_skew: boundedDuration('1s', '1h').default('5m'),
      /** Signed requests remembered to refuse a replay inside the skew window; when full, new signed requests get 503. */
      replay_cache_size: z.number().int().min(100).max(10_000_000).default(100_000),
      /** Alerts one request may carry; a larger one is refused with 413 before anything is signalled. */
      max_alerts_per_request: z.number().int().min(1).max(100_000).default(1000),
      /** Requests per second and burst per sending address (token bucket); more get 429 before the body is read. */
      rate_limit: z
        .strictObject({ per_second: z.number().positive().max(1_000_000).default(50), burst: z.number().int().min(1).max(1_000_000).default(500) })
        .prefault({}),
      /** Environment variable holding a bearer token `/metrics` requires; unset, `/metrics` is open (it shows counts only). */
      metrics_token_env: envName.optional(),
      /** Explicit opt-out of authentication (labs only). */
      allow_unauthenticated: z.boolean().default(false),
      /** Largest request body in bytes; larger ones are refused with 413. */
      body_limit: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
      /** A repeated delivery of the same alert (fingerprint and status) within this window is acknowledged but not sent again. */
      dedupe_window: boundedDuration('1s', '7d').default('10m'),
      /** Signals to Temporal under way at once. */
      max_in_flight: z.number().int().min(1).max(10_000).default(64),
      /** Alerts waiting for a signal slot before new requests are refused with 503 (senders retry). */
      max_queued: z.number().int().min(1).max(1_000_000).default(10_000),
    })
    .refine((r) => r.allow_unauthenticated || r.token_env !== undefined || r.hmac_secret_env !== undefined, {
      message: 'expected "token_env" and/or "hmac_secret_env" (or allow_unauthenticated: true)',
      path: ['token_env'],
    }),
);
export type AlertReceiverConfig = z.infer<typeof alertReceiverSchema>;

/** Alerts from monitoring (Alertmanager, Grafana) delivered to detection; see docs/alerts.md. */
export const alertingSchema = z.lazy(() =>
  z.strictObject({
    receiver: alertReceiverSchema.prefault({}),
    /** Tried in order; the first match wins. Default: the `service` and `destination` labels name them. */
    routes: z.array(alertRouteSchema).default([{ match: {}, service_label: 'service', destination_label: 'destination', means: 'ignore' }]),
  }),
);
export type AlertingConfig = z.infer<typeof alertingSchema>;

/** The fields of a cron expression as Temporal reads it (5, 6 or 7 fields). */
const CRON_FIELDS = {
  second: { min: 0, max: 59 },
  minute: { min: 0, max: 59 },
  hour: { min: 0, max: 23 },
  'day of month': { min: 1, max: 31 },
  month: { min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  // 0 and 7 are both Sunday.
  'day of week': { min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
  year: { min: 1970, max: 2999 },
} as const;
type CronField = keyof typeof CRON_FIELDS;
const CRON_LAYOUTS: Record<number, CronField[]> = {
  5: ['minute', 'hour', 'day of month', 'month', 'day of week'],
  6: ['minute', 'hour', 'day of month', 'month', 'day of week', 'year'],
  7: ['second', 'minute', 'hour', 'day of month', 'month', 'day of week', 'year'],
};
const CRON_SHORTHANDS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

function cronValue(field: CronField, text: string): number | undefined {
  const spec = CRON_FIELDS[field];
  const names: readonly string[] = 'names' in spec ? spec.names : [];
  const named = names.indexOf(text.toUpperCase());
  if (named >= 0) return field === 'month' ? named + 1 : named;
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= spec.min && n <= spec.max ? n : undefined;
}

/** What is wrong with a cron expression, or undefined when Temporal will accept it. */
export function cronProblem(expr: string): string | undefined {
  const text = expr.trim();
  if (/^(CRON_)?TZ=/.test(text)) return 'expected no CRON_TZ=/TZ= prefix; give the time zone in its own field';
  if (text.startsWith('@')) {
    if (CRON_SHORTHANDS.includes(text)) return undefined;
    if (/^@every \d+[smhd](\/\d+[smhd])?$/.test(text)) return undefined;
    return `expected one of ${CRON_SHORTHANDS.join(', ')} or "@every <n><s|m|h|d>"`;
  }
  const fields = text.split(/\s+/);
  const layout = CRON_LAYOUTS[fields.length];
  if (!layout) return `expected 5 fields (minute hour day-of-month month day-of-week), 6 (+ year) or 7 (second first, + year); got ${fields.length}`;
  for (const [i, field] of layout.entries()) {
    const spec = CRON_FIELDS[field];
    for (const item of fields[i]!.split(',')) {
      const m = /^(\*|([^-/]+)(?:-([^-/]+))?)(?:\/(\d+))?$/.exec(item);
      const bad = `${field} "${fields[i]}": expected *, a value ${spec.min}-${spec.max}${'names' in spec ? ` or a name (${spec.names[0]}…)` : ''}, a range a-b, a list a,b or a step */n`;
      if (!m) return bad;
      const [, , from, to, step] = m;
      if (step !== undefined && Number(step) < 1) return bad;
      if (from === undefined) continue;
      const a = cronValue(field, from);
      const b = to === undefined ? a : cronValue(field, to);
      if (a === undefined || b === undefined || b < a) return bad;
    }
  }
  return undefined;
}

export const cronSchema = z.string().superRefine((s, ctx) => {
  const problem = cronProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid cron expression: ${problem}` });
});

/** An IANA time zone name the runtime knows ("Europe/Berlin", "UTC"). */
export const timeZoneSchema = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected an IANA time zone such as "UTC" or "Europe/Berlin"' },
);

/** An interval of at least a second (Temporal rounds schedule intervals to seconds). */
export const scheduleEverySchema = boundedDuration('1s', '366d');

/** Planned maintenance on a Temporal Schedule: drain `destination` for `window` at each `cron` (or `every`) time. */
export const maintenanceScheduleSchema = z.lazy(() =>
  z
    .strictObject({
      service: id,
      destination: id,
      window: maintenanceWindowSchema,
      cron: cronSchema.optional(),
      every: scheduleEverySchema.optional(),
      time_zone: timeZoneSchema.default('UTC'),
      /** Created paused (an operator unpauses it); left out, a sync keeps whatever state the schedule has. */
      paused: z.boolean().optional(),
      note: z.string().max(500).optional(),
      reason: z.string().max(500).optional(),
    })
    .refine((m) => (m.cron === undefined) !== (m.every === undefined), {
      message: 'expected exactly one of "cron" or "every"',
      path: ['cron'],
    }),
);
export type MaintenanceScheduleConfig = z.infer<typeof maintenanceScheduleSchema>;

export const configSchema = z.lazy(() =>
  z
    .strictObject({
      failover_manager: policySchema.prefault({}),
      /** None: the worker supervises nothing until a config with services is applied (a load-time warning says so). */
      services: z.array(serviceSchema).default([]),
      alerting: alertingSchema.optional(),
      /** Planned maintenance windows run by Temporal Schedules; see docs/maintenance.md. */
      maintenance: z.array(maintenanceScheduleSchema).optional(),
    })
    .superRefine((cfg, ctx) => {
      // An applier without a key could never sign a change: the config would lock everyone out.
      const cc = cfg.failover_manager.config_changes;
      cc.appliers.forEach((name, i) => {
        if (cc.keys[name] === undefined && cfg.failover_manager.failover_execution.approval.keys[name] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['failover_manager', 'config_changes', 'appliers', i],
            input: name,
            message: `${name} has no key in config_changes.keys (or failover_execution.approval.keys); appliers sign every change`,
          });
        }
      });
      const seen = new Map<string, number>();
      cfg.services.forEach((s, i) => {
        // The fleet policy is valid here, so what a merge finds wrong comes from the service's own keys.
        const merged = s.policy ? mergeServicePolicy(cfg.failover_manager, s.policy) : undefined;
        for (const issue of merged?.success === false ? merged.error.issues : []) {
          if (issue.code === 'unrecognized_keys') {
            // One line per unknown key, with the key it most likely meant (as for the fleet's own policy).
            const section = issue.path.length === 1 ? (CONSUMED_SEED_KEYS[String(issue.path[0])] ?? []) : [];
            const known = [...(keysAt(policySchema, issue.path, undefined) ?? []), ...section];
            for (const key of issue.keys) {
              const guess = closestKey(key, known);
              ctx.addIssue({
                code: 'custom',
                path: ['services', i, 'policy', ...issue.path, key],
                message: `unknown key${guess ? `; did you mean "${guess}"?` : ''}`,
              });
            }
            continue;
          }
          ctx.addIssue({
            code: 'custom',
            path: ['services', i, 'policy', ...issue.path],
            input: 'input' in issue ? issue.input : undefined,
            message: issue.message,
          });
        }
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
      cfg.alerting?.routes.forEach((r, i) => {
        if (r.service !== undefined && !seen.has(r.service)) {
          ctx.addIssue({
            code: 'custom',
            path: ['alerting', 'routes', i, 'service'],
            input: r.service,
            message: `expected a configured service (${[...seen.keys()].join(', ')})`,
          });
        }
      });
      const windows = new Map<string, number>();
      cfg.maintenance?.forEach((m, i) => {
        const svc = cfg.services.find((s) => s.name === m.service);
        if (!svc) {
          ctx.addIssue({
            code: 'custom',
            path: ['maintenance', i, 'service'],
            input: m.service,
            message: `expected a configured service (${[...seen.keys()].join(', ')})`,
          });
          return;
        }
        if (!svc.destinations.some((d) => d.id === m.destination)) {
          ctx.addIssue({
            code: 'custom',
            path: ['maintenance', i, 'destination'],
            input: m.destination,
            message: `expected a destination of service ${m.service} (${svc.destinations.map((d) => d.id).join(', ')})`,
          });
        }
        // One schedule per service and destination: its id is derived from the pair.
        const key = `${m.service}/${m.destination}`;
        const first = windows.get(key);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['maintenance', i, 'destination'],
            input: m.destination,
            message: `duplicate maintenance of ${key}, already scheduled by maintenance[${first}]`,
          });
        } else windows.set(key, i);
      });
    }),
);
export type Config = z.infer<typeof configSchema>;

/**
 * Validates already-parsed config data; throws InvalidInputError naming every bad field. Seed keys
 * are mapped onto project keys first (src/domain/seed-keys.ts); `data` itself is left as it is.
 */
export function validateConfig(data: unknown, source = 'config'): Config {
  const { doc, problems } = normalizeSeedKeys(data);
  const result = configSchema.safeParse(doc, { reportInput: true });
  const knownKeys = (path: readonly PropertyKey[]) => {
    const keys = keysAt(configSchema, path, doc);
    const section = path.length === 2 && path[0] === 'failover_manager' ? CONSUMED_SEED_KEYS[String(path[1])] : undefined;
    return keys && section ? [...keys, ...section] : keys;
  };
  const all = [...problems, ...(result.success ? [] : describeIssues(result.error.issues, '', knownKeys))];
  if (all.length > 0 || !result.success) throw new InvalidInputError(source, all);
  return result.data;
}

/** What a valid config asks for that cannot happen here, each with why (see seedKeyWarnings). */
export function configWarnings(config: Config): string[] {
  return seedKeyWarnings(config);
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
  const passwordEnv = (r.type === 'redis' ? r.password_env : undefined) ?? fromProbe?.password_env;
  return { host, port, ...(passwordEnv ? { password_env: passwordEnv } : {}) };
}

export function routerServerOf(dest: DestinationConfig): string {
  return dest.router_server ?? dest.id;
}

/**
 * A policy snapshot as a runbook recorded it, with defaults for keys added since: a run that
 * replays or continues an older snapshot reads every key it expects. A snapshot the current
 * schema refuses is used as recorded.
 */
export function policyWithDefaults(recorded: Policy): Policy {
  const parsed = policySchema.safeParse(recorded);
  if (parsed.success) return parsed.data;
  // Refused by a rule added since (a tighter bound): keep every recorded value, add the missing keys.
  const defaults = policySchema.parse({}) as Record<string, Record<string, unknown>>;
  const old = recorded as unknown as Record<string, Record<string, unknown> | undefined>;
  return Object.fromEntries(Object.entries(defaults).map(([section, d]) => [section, { ...d, ...(old[section] ?? {}) }])) as unknown as Policy;
}
