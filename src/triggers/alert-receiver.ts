import { context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { alertSignal } from '../api/queries';
import type { AlertEvidence } from '../domain/alerts';
import type { AlertingConfig, ServiceConfig } from '../domain/config';
import { requireMs } from '../domain/duration';
import { runbookSearchAttributes } from '../domain/search-attributes';
import { detectionWorkflowId } from '../domain/workflow-ids';
import type { detection } from '../workflows/detection';
import { authenticate, metricsAllowed, preAuthenticate, type AuthRequirement, type ReceiverAuth } from './alert-auth';
import { AlertDeduper } from './alert-dedupe';
import { AlertRouter, formatLabels, toEvidence } from './alert-mapping';
import { PayloadError, parseJson, parsers, type AlertSource, type IncomingAlert } from './alert-payloads';
import { ConcurrencyLimiter } from './concurrency-limiter';
import { RateLimiter } from './rate-limit';
import { ReplayGuard } from './replay-guard';
import { ReceiverMetrics, type AlertOutcome, type ReceiverStats } from './receiver-metrics';

export interface AlertReceiverOptions {
  alerting: AlertingConfig;
  services: ServiceConfig[];
  client: Client;
  /** Task queue the detection workflows run on (the worker's). */
  taskQueue: string;
  auth: ReceiverAuth;
  logger: Logger;
  now?: () => number;
  /** With tracing on: each request is a server span (continuing an incoming traceparent) that the signals carry on. */
  tracer?: Tracer;
}

export interface AlertReceiver {
  readonly app: FastifyInstance;
  /** Starts listening (default: the configured address); resolves the base URL. */
  listen(address?: string): Promise<string>;
  stats(): ReceiverStats;
  /** Stops accepting, lets requests under way finish. */
  close(): Promise<void>;
}

export interface AlertResult {
  fingerprint: string;
  status: 'firing' | 'resolved';
  outcome: AlertOutcome;
  service?: string;
  destination?: string;
  reason?: string;
}

/** "host:port" or "[v6]:port" as fastify's listen() wants it. */
export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(i + 1)) };
}

/**
 * HTTP endpoint for monitoring webhooks: authenticates, validates, routes each alert to a service
 * and hands it to that service's detection workflow with signal-with-start. A 2xx means every
 * routed alert is recorded in Temporal; anything else is safe to resend.
 */
export function createAlertReceiver(opts: AlertReceiverOptions): AlertReceiver {
  const { alerting, client, taskQueue, logger } = opts;
  const cfg = alerting.receiver;
  const now = opts.now ?? Date.now;
  const router = new AlertRouter(alerting.routes, opts.services);
  const deduper = new AlertDeduper(requireMs(cfg.dedupe_window), 100_000, now);
  const limiter = new ConcurrencyLimiter(cfg.max_in_flight);
  const metrics = new ReceiverMetrics();
  const replays = new ReplayGuard(requireMs(cfg.hmac_max_skew), cfg.replay_cache_size, now);
  const rates = new RateLimiter(cfg.rate_limit.per_second, cfg.rate_limit.burst, 10_000, now);
  const requirement = (source: AlertSource): AuthRequirement => ({ hmacRequired: source === 'grafana' });
  const sourceOf = (url: string): AlertSource | undefined =>
    url.startsWith('/alerts/alertmanager') ? 'alertmanager' : url.startsWith('/alerts/grafana') ? 'grafana' : undefined;

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: cfg.body_limit,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  // The raw bytes are needed for the HMAC check, so JSON is parsed after authentication.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Before the body is read: a flooding or unauthenticated sender costs no more than its headers.
  app.addHook('onRequest', async (req, reply) => {
    const source = req.method === 'POST' ? sourceOf(req.url) : undefined;
    if (!source) return;
    const rate = rates.take(req.ip);
    if (!rate.ok) {
      req.log.warn({ source, remote: req.ip }, 'alert request rate limited');
      return reply
        .code(429)
        .header('retry-after', String(rate.retryAfterSeconds))
        .send({
          error: 'too many requests',
          reason: `more than ${cfg.rate_limit.per_second}/s (burst ${cfg.rate_limit.burst}) from ${req.ip} (alerting.receiver.rate_limit)`,
        });
    }
    const auth = preAuthenticate(opts.auth, req.headers, now(), requirement(source));
    if (!auth.ok) {
      req.log.warn({ source, remote: req.ip, reason: auth.reason }, 'alert request unauthenticated');
      return reply.code(401).header('www-authenticate', 'Bearer realm="alerts"').send({ error: 'unauthorized', reason: auth.reason });
    }
    return undefined;
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.countRequest(req.routeOptions.url ?? 'other', reply.statusCode);
  });
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const reason =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `body larger than the limit of ${cfg.body_limit} bytes (alerting.receiver.body_limit)` : err.message;
    if (code >= 500) req.log.error({ err }, 'alert request failed');
    else req.log.warn({ url: req.url, code, reason }, 'alert request refused');
    // A 5xx reason would be an internal error message: it goes to the log only.
    return reply
      .code(code)
      .send({ error: code === 413 ? 'payload too large' : 'request failed', reason: code >= 500 ? 'internal error, see the receiver log' : reason });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: 'not found',
      reason: `no endpoint ${req.method} ${req.url.split('?')[0]}; alerts go to POST /alerts/alertmanager or POST /alerts/grafana`,
    }),
  );

  const signal = async (service: string, evidence: AlertEvidence): Promise<void> => {
    await client.workflow.signalWithStart<typeof detection, [AlertEvidence]>('detection', {
      workflowId: detectionWorkflowId(service),
      taskQueue,
      args: [{ service }],
      signal: alertSignal,
      signalArgs: [evidence],
      typedSearchAttributes: runbookSearchAttributes(service, 'detection', 'alert'),
      staticSummary: `detection of ${service} (started by an alert)`,
    });
  };

  const deliver = async (alert: IncomingAlert): Promise<AlertResult> => {
    const base = { fingerprint: alert.fingerprint, status: alert.status };
    const route = router.route(alert.labels);
    if (!route.matched) {
      metrics.countAlert(alert.source, 'unmatched');
      logger.warn(
        { source: alert.source, fingerprint: alert.fingerprint, status: alert.status, labels: formatLabels(alert.labels), reason: route.reason },
        'alert unmatched',
      );
      return { ...base, outcome: 'unmatched', reason: route.reason };
    }
    const target = { service: route.service, ...(route.destination ? { destination: route.destination } : {}) };
    if (route.means === 'ignore') {
      // Routed but meaningless for failover (a latency warning, an info alert): recorded, not signalled.
      metrics.countAlert(alert.source, 'ignored');
      logger.info(
        { source: alert.source, ...target, fingerprint: alert.fingerprint, status: alert.status, route: route.route },
        'alert ignored: its route means nothing for failover',
      );
      return { ...base, ...target, outcome: 'ignored', reason: `routes[${route.route}] means: ignore` };
    }
    const evidence = toEvidence(alert, route.destination, route.means);
    trace.getActiveSpan()?.addEvent('alert', {
      'failover.service': route.service,
      'failover.destination': route.destination ?? '',
      'alert.fingerprint': alert.fingerprint,
      'alert.status': alert.status,
    });
    try {
      const done = await deduper.run(`${route.service}|${alert.fingerprint}`, alert.status, () => limiter.run(() => signal(route.service, evidence)));
      const outcome: AlertOutcome = done === 'delivered' ? 'signalled' : 'duplicate';
      metrics.countAlert(alert.source, outcome);
      if (outcome === 'signalled') {
        logger.info(
          {
            source: alert.source,
            ...target,
            fingerprint: alert.fingerprint,
            status: alert.status,
            summary: evidence.summary,
            workflowId: detectionWorkflowId(route.service),
          },
          'alert signalled',
        );
      }
      return { ...base, ...target, outcome };
    } catch (err) {
      metrics.countAlert(alert.source, 'failed');
      logger.error({ source: alert.source, ...target, fingerprint: alert.fingerprint, err }, 'alert not delivered to Temporal');
      return { ...base, ...target, outcome: 'failed', reason: (err as Error).message };
    }
  };

  const handle = (source: AlertSource) => async (req: FastifyRequest, reply: FastifyReply) => {
    const tracer = opts.tracer;
    if (!tracer) return handleAlerts(source, req, reply);
    const parent = propagation.extract(context.active(), req.headers);
    const attributes = { 'http.request.method': req.method, 'url.path': req.url.split('?')[0]!, 'failover.alert_source': source };
    return tracer.startActiveSpan(`POST /alerts/${source}`, { kind: SpanKind.SERVER, attributes }, parent, async (span) => {
      try {
        const sent = await handleAlerts(source, req, reply);
        span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        return sent;
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    });
  };

  const handleAlerts = async (source: AlertSource, req: FastifyRequest, reply: FastifyReply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const auth = authenticate(opts.auth, req.headers, body, now(), requirement(source));
    if (!auth.ok) {
      req.log.warn({ source, remote: req.ip, reason: auth.reason }, 'alert request unauthenticated');
      return reply.code(401).header('www-authenticate', 'Bearer realm="alerts"').send({ error: 'unauthorized', reason: auth.reason });
    }
    if (auth.via !== 'hmac') return accept(source, req, reply, body);
    const seen = replays.reserve(auth.signature, auth.signedAtMs);
    if (seen === 'replay') {
      req.log.warn({ source, remote: req.ip }, 'alert request replayed');
      return reply
        .code(409)
        .send({ error: 'replayed request', reason: 'this signature was already accepted; a new delivery needs a new timestamp and signature' });
    }
    if (seen === 'full') {
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ error: 'busy', reason: `replay cache full (alerting.receiver.replay_cache_size ${cfg.replay_cache_size}); retry later` });
    }
    try {
      return await accept(source, req, reply, body);
    } finally {
      // Only an accepted delivery stays remembered: the sender may retry a refused one unchanged.
      if (reply.statusCode !== 200) replays.release(auth.signature);
    }
  };

  const accept = async (source: AlertSource, req: FastifyRequest, reply: FastifyReply, body: Buffer) => {
    let alerts: IncomingAlert[];
    try {
      const data = parseJson(body);
      const count = Array.isArray((data as { alerts?: unknown } | null)?.alerts) ? (data as { alerts: unknown[] }).alerts.length : 0;
      if (count > cfg.max_alerts_per_request) {
        req.log.warn({ source, remote: req.ip, count }, 'alert request carries too many alerts');
        return reply.code(413).send({
          error: 'too many alerts',
          reason: `${count} alerts in one request; the limit is ${cfg.max_alerts_per_request} (alerting.receiver.max_alerts_per_request)`,
        });
      }
      alerts = parsers[source](data);
    } catch (err) {
      if (!(err instanceof PayloadError)) throw err;
      req.log.warn({ source, remote: req.ip, problems: err.problems }, 'alert payload invalid');
      return reply.code(400).send({ error: 'invalid payload', reason: err.problems[0], problems: err.problems });
    }
    if (limiter.pending + alerts.length > cfg.max_queued) {
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ error: 'busy', reason: `${limiter.pending} alerts are waiting to be signalled (alerting.receiver.max_queued ${cfg.max_queued}); retry later` });
    }
    const results = await Promise.all(alerts.map(deliver));
    const count = (o: AlertOutcome) => results.filter((r) => r.outcome === o).length;
    const summary = {
      received: alerts.length,
      signalled: count('signalled'),
      duplicates: count('duplicate'),
      unmatched: count('unmatched'),
      ignored: count('ignored'),
      failed: count('failed'),
    };
    req.log.debug({ source, ...summary }, 'alert delivery handled');
    if (summary.failed > 0) {
      const reason = results.find((r) => r.outcome === 'failed')!.reason;
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ error: 'temporal unavailable', reason, ...summary, alerts: results });
    }
    return reply.code(200).send({ ...summary, alerts: results });
  };

  app.post('/alerts/alertmanager', handle('alertmanager'));
  app.post('/alerts/grafana', handle('grafana'));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await client.connection.withDeadline(now() + 2000, () => client.workflowService.getSystemInfo({}));
      return { status: 'ready' };
    } catch (err) {
      // Addresses and error texts stay in the log: readiness is probed by anyone who can reach the port.
      logger.warn({ err }, 'readiness: Temporal not reachable');
      return reply.code(503).send({ status: 'not ready', reason: 'Temporal not reachable' });
    }
  });
  app.get('/metrics', async (req, reply) => {
    if (!metricsAllowed(opts.auth, req.headers)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="metrics"')
        .send({ error: 'unauthorized', reason: 'expected Authorization: Bearer <metrics token>' });
    }
    return reply.type(metrics.registry.contentType).send(await metrics.render({ inFlight: limiter.pending, dedupeEntries: deduper.size }));
  });

  return {
    app,
    async listen(address = cfg.listen) {
      const { host, port } = splitAddress(address);
      await app.listen({ host, port });
      const bound = app.server.address();
      const actual = typeof bound === 'object' && bound ? bound.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
    },
    stats: () => metrics.stats(),
    close: () => app.close(),
  };
}
