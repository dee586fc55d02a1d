import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TlsConfig } from '../../domain/config';
import type { Routing } from '../../domain/routing';
import { describeIssues } from '../../domain/validation';
import { authHeaders, httpRequest, redact, type HttpAnswer } from '../probes/http';
import type { RouteChange, Router, RouterReadout } from './types';
import { GenerationConflictError } from './types';

export interface WebhookRouterOptions {
  service: string;
  /** Takes `PUT` of the desired routing. */
  url: string;
  /** Answers `GET` with the current routing; defaults to `url`. */
  readUrl?: string | undefined;
  authHeader: string;
  /** Environment variable holding the auth header's value. */
  authEnv?: string | undefined;
  timeoutMs: number;
  tls?: TlsConfig | undefined;
  /** destination id → its name at the receiver (`router_server`, default the id) */
  servers: Record<string, string>;
}

const stateSchema = z.object({
  generation: z.number().int().min(0),
  weights: z.record(z.string(), z.number().int().min(0)),
});
type RemoteState = z.infer<typeof stateSchema>;

/** Same service, expected generation and weights → same key, whatever order the weights are listed in. */
export function idempotencyKey(service: string, expectedGeneration: number, weights: Record<string, number>): string {
  const canonical = JSON.stringify([service, expectedGeneration, Object.entries(weights).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
  return `fm-${service}-${expectedGeneration}-${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}`;
}

/**
 * Routing held by the user's own service. `GET` reads `{generation, weights}`; `PUT` sends
 * `{service, generation, expectedGeneration, weights}` with an `Idempotency-Key`, and the receiver
 * applies it only if its generation still equals `expectedGeneration`, answering 409 otherwise.
 * The contract is in docs/drivers/webhook-router.md.
 */
export class WebhookRouter implements Router {
  constructor(private readonly opts: WebhookRouterOptions) {}

  async read(): Promise<RouterReadout> {
    const url = this.opts.readUrl ?? this.opts.url;
    const answer = await this.call('GET', url);
    if (answer.status !== 200) throw this.unexpected('GET', url, answer);
    return this.readout(this.parseState('GET', url, answer));
  }

  async apply(weights: Record<string, number>, expectedGeneration: number): Promise<{ routing: Routing; changes: RouteChange[] }> {
    for (const destId of Object.keys(weights)) {
      if (!this.opts.servers[destId]) throw new Error(`webhook router: no destination ${destId} in service ${this.opts.service}`);
    }
    const before = (await this.read()).routing;
    const settled = this.settled(before, weights, expectedGeneration);
    if (settled) return settled;

    const desired = { ...before.weights, ...weights };
    const remoteWeights = Object.fromEntries(Object.entries(desired).map(([id, w]) => [this.opts.servers[id]!, w]));
    const body = { service: this.opts.service, generation: expectedGeneration + 1, expectedGeneration, weights: remoteWeights };
    const answer = await this.call('PUT', this.opts.url, JSON.stringify(body), {
      'content-type': 'application/json',
      'idempotency-key': idempotencyKey(this.opts.service, expectedGeneration, remoteWeights),
    });

    if (answer.status === 409) {
      // The receiver's state decides: the 409 body when it carries it, a fresh read otherwise.
      const carried = stateSchema.safeParse(tryParse(answer.body));
      const now = carried.success ? this.readout(carried.data).routing : (await this.read()).routing;
      const again = this.settled(now, weights, expectedGeneration);
      if (again) return again;
      throw new GenerationConflictError(expectedGeneration, now.generation);
    }
    if (answer.status < 200 || answer.status > 299) throw this.unexpected('PUT', this.opts.url, answer);

    let routing: Routing = { generation: expectedGeneration + 1, weights: desired };
    if (answer.body.trim() !== '') {
      routing = this.readout(this.parseState('PUT', this.opts.url, answer)).routing;
      if (routing.generation !== expectedGeneration + 1) {
        throw new Error(
          `webhook router: PUT ${redact(new URL(this.opts.url))} accepted expectedGeneration ${expectedGeneration} but answered generation ${routing.generation}, expected ${expectedGeneration + 1}`,
        );
      }
    }
    const changes: RouteChange[] = Object.entries(weights)
      .filter(([id, to]) => (before.weights[id] ?? 0) !== to)
      .map(([id, to]) => ({ destination: id, from: before.weights[id] ?? 0, to }));
    return { routing, changes };
  }

  /** The receiver owns client sessions, if it has any; nothing to cut from here. */
  async cutSessions(_destId: string): Promise<void> {}

  /**
   * Routing that already is what a call with `expectedGeneration` would produce (a retry of our own
   * write whose answer was lost): no change. Undefined when the write still has to happen.
   */
  private settled(current: Routing, weights: Record<string, number>, expectedGeneration: number) {
    if (current.generation === expectedGeneration) return undefined;
    if (current.generation === expectedGeneration + 1 && Object.entries(weights).every(([id, w]) => (current.weights[id] ?? 0) === w)) {
      return { routing: current, changes: [] as RouteChange[] };
    }
    throw new GenerationConflictError(expectedGeneration, current.generation);
  }

  private call(method: 'GET' | 'PUT', url: string, body?: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    return httpRequest({
      method,
      url,
      headers: {
        accept: 'application/json',
        ...headers,
        ...authHeaders({ auth_header: this.opts.authHeader, auth_env: this.opts.authEnv }, 'router.auth_env'),
      },
      ...(body !== undefined ? { body } : {}),
      tls: this.opts.tls,
      timeoutMs: this.opts.timeoutMs,
    });
  }

  private parseState(method: string, url: string, answer: HttpAnswer): RemoteState {
    const json = tryParse(answer.body);
    const parsed = stateSchema.safeParse(json, { reportInput: true });
    if (!parsed.success) {
      throw new Error(
        `webhook router: ${method} ${redact(new URL(url))} answered ${answer.status} without a valid {generation, weights}: ${describeIssues(parsed.error.issues, 'body').join('; ')}`,
      );
    }
    return parsed.data;
  }

  private readout(state: RemoteState): RouterReadout {
    const weights: Record<string, number> = {};
    const detail: RouterReadout['detail'] = {};
    for (const [destId, name] of Object.entries(this.opts.servers)) {
      const w = state.weights[name] ?? 0;
      weights[destId] = w;
      detail[destId] = { state: w > 0 ? 'ready' : 'maint', weight: w };
    }
    return { routing: { generation: state.generation, weights }, detail };
  }

  private unexpected(method: string, url: string, answer: HttpAnswer): Error {
    return new Error(`webhook router: ${method} ${redact(new URL(url))} answered ${answer.status}: ${answer.body.trim().slice(0, 200) || '(empty body)'}`);
  }
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
