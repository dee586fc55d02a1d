import { z } from 'zod';
import type { PrometheusProbeConfig } from '../../domain/config';
import { describeIssues } from '../../domain/validation';
import { authHeaders, httpRequest, redact } from './http';
import { classifyError, type ProbeResult } from './types';

const sample = z.tuple([z.number(), z.string()]);
const answerSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.discriminatedUnion('resultType', [
      z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: sample })) }),
      z.object({ resultType: z.literal('scalar'), result: sample }),
      z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
      z.object({ resultType: z.literal('string'), result: z.unknown() }),
    ]),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string() }),
]);

export type ComparisonOp = NonNullable<PrometheusProbeConfig['op']>;

export function compare(value: number, op: ComparisonOp, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '<':
      return value < threshold;
    case '>=':
      return value >= threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

/** Prometheus writes sample values as strings, including "NaN", "+Inf" and "-Inf". */
function sampleValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/**
 * Runs an instant PromQL query and compares its single value with a threshold; up when
 * `value <op> threshold` holds, so any metric can drive detection or validate a step. The value is
 * returned either way, for the audit trail. Prometheus being unreachable is reported with a classified
 * network failure, so detection can tell "metric bad" from "cannot see the metric".
 */
export async function probePrometheus(config: PrometheusProbeConfig, timeoutMs: number, opts: { maxErrorRate?: number } = {}): Promise<ProbeResult> {
  const started = performance.now();
  // An error-rate probe is bounded by quality.max_error_rate: healthy while the ratio is at most that.
  const op: ComparisonOp | undefined = config.error_rate ? '<=' : config.op;
  const threshold = config.error_rate ? opts.maxErrorRate : config.threshold;
  if (op === undefined || threshold === undefined) {
    return { up: false, latencyMs: 0, failure: 'error', error: 'error_rate probe needs quality.max_error_rate; it runs only as a service validation check' };
  }
  const base = config.url.endsWith('/') ? config.url : `${config.url}/`;
  const url = new URL('api/v1/query', base);
  url.searchParams.set('query', config.query);
  // Ask Prometheus to give up a little before we do, so a slow query reads as its own error, not a network timeout.
  url.searchParams.set('timeout', `${Math.max(1, Math.floor(timeoutMs * 0.9))}ms`);
  const where = `query ${JSON.stringify(config.query)} on ${redact(new URL(base))}`;
  let status: number;
  let body: string;
  try {
    ({ status, body } = await httpRequest({
      method: 'GET',
      url: url.toString(),
      headers: { accept: 'application/json', ...authHeaders(config) },
      tls: config.tls,
      timeoutMs,
    }));
  } catch (err) {
    const c = classifyError(err);
    return { up: false, latencyMs: performance.now() - started, failure: c.failure, error: `${where}: ${c.error}` };
  }
  const latencyMs = performance.now() - started;
  const down = (error: string): ProbeResult => ({ up: false, latencyMs, error: `${where}: ${error}`, failure: 'error' });

  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return down(`HTTP ${status} with a body that is not JSON: ${body.slice(0, 200)}`);
  }
  const parsed = answerSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) return down(`HTTP ${status}, unexpected answer: ${describeIssues(parsed.error.issues, 'answer').join('; ')}`);
  const answer = parsed.data;
  if (answer.status === 'error') return down(`Prometheus answered ${answer.errorType ?? 'error'}: ${answer.error}`);

  let text: string;
  const data = answer.data;
  if (data.resultType === 'scalar') text = data.result[1];
  else if (data.resultType === 'vector') {
    if (data.result.length === 0) {
      return config.on_empty === 'up' ? { up: true, latencyMs } : down('returned no sample (metric absent or target not scraped); on_empty is "down"');
    }
    if (data.result.length > 1) {
      const series = data.result
        .slice(0, 3)
        .map((r) => JSON.stringify(r.metric))
        .join(', ');
      return down(
        `returned ${data.result.length} series (${series}${data.result.length > 3 ? ', …' : ''}); expected one: aggregate with sum(), max() or min()`,
      );
    }
    text = data.result[0]!.value[1];
  } else return down(`returned a ${data.resultType}; expected an instant vector or scalar`);

  const value = sampleValue(text);
  // NaN and ±Inf would turn into null in a JSON payload; the error text still carries them.
  const reported = Number.isFinite(value) ? { value } : {};
  if (!compare(value, op, threshold))
    return { ...down(`value ${text} is not ${op} ${threshold}${config.error_rate ? ' (quality.max_error_rate)' : ''}`), ...reported };
  return { up: true, latencyMs, ...reported };
}
