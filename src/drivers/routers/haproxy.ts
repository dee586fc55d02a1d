import { assertHaproxyName } from '../../domain/haproxy-names';
import type { Routing } from '../../domain/routing';
import { parseServersState, runtimeCommand, runtimeSet, type RuntimeApiAddress } from './haproxy-runtime';
import type { ApplyOptions, RouteChange, Router, RouterReadout } from './types';
import { GenerationConflictError } from './types';

export interface HaproxyRouterOptions {
  api: RuntimeApiAddress;
  backend: string;
  /** destination id → HAProxy server name */
  servers: Record<string, string>;
}

/**
 * Routes by server weight and state in one HAProxy backend. Weight 0 puts the server in `maint`
 * (no new connections; health checks cannot bring it back), weight > 0 sets the weight and `ready`.
 *
 * HAProxy has no generation of its own, so it is kept in a process variable (`proc.fm_gen_<backend>`,
 * set through the experimental-mode CLI). Compare-and-set is emulated: read the variable, compare,
 * write. The check and the writes are separate CLI calls, so two writers racing could interleave;
 * the one-mutating-runbook-per-service rule is what excludes that. A HAProxy reload resets the
 * variable to 0, which a runbook notices as a generation conflict and re-reads.
 */
/** The write in progress per runtime API and backend, in this process. */
const writing = new Map<string, Promise<void>>();

export class HaproxyRouter implements Router {
  constructor(private readonly opts: HaproxyRouterOptions) {
    // Names end up in runtime-API command lines; a ";" or newline there would run a second command.
    assertHaproxyName(opts.backend, 'HAProxy backend');
    for (const [destId, server] of Object.entries(opts.servers)) assertHaproxyName(server, `HAProxy server of destination ${destId}`);
  }

  /** `<backend>/<server>` for a destination, from names checked when this router was built. */
  private target(destId: string): string {
    const server = this.opts.servers[destId];
    if (!server) throw new Error(`no HAProxy server configured for destination ${destId}`);
    return `${this.opts.backend}/${server}`;
  }

  private get genVar(): string {
    return `proc.fm_gen_${this.opts.backend.replace(/[^A-Za-z0-9_]/g, '_')}`;
  }

  async generation(): Promise<number> {
    const answer = await runtimeCommand(this.opts.api, `experimental-mode on; get var ${this.genVar}`);
    const m = /value=<(\d+)>/.exec(answer);
    if (m) return Number(m[1]);
    if (/not found/i.test(answer)) return 0;
    throw new Error(`cannot read routing generation from HAProxy: ${answer.trim()}`);
  }

  async read(): Promise<RouterReadout> {
    const [generation, text] = await Promise.all([this.generation(), runtimeCommand(this.opts.api, `show servers state ${this.opts.backend}`)]);
    if (/Can't find backend/i.test(text)) throw new Error(`HAProxy has no backend "${this.opts.backend}"`);
    const states = parseServersState(text);
    const weights: Record<string, number> = {};
    const detail: RouterReadout['detail'] = {};
    for (const [destId, server] of Object.entries(this.opts.servers)) {
      const s = states.find((x) => x.name === server);
      if (!s) throw new Error(`HAProxy backend "${this.opts.backend}" has no server "${server}" (destination ${destId})`);
      weights[destId] = s.maint || s.drain ? 0 : s.userWeight;
      detail[destId] = { state: s.maint ? 'maint' : s.drain ? 'drain' : 'ready', weight: s.userWeight, up: s.opState === 2 };
    }
    return { routing: { generation, weights }, detail };
  }

  /**
   * Read, compare and write under one lock per backend in this process: two writes of this worker
   * (say a retried attempt and its successor) never interleave. Across workers the per-service
   * runbook lock is what keeps writers apart; HAProxy itself has no compare-and-set.
   */
  async apply(weights: Record<string, number>, expectedGeneration: number, opts: ApplyOptions = {}): Promise<{ routing: Routing; changes: RouteChange[] }> {
    const key = `${JSON.stringify(this.opts.api)}/${this.opts.backend}`;
    const before = writing.get(key) ?? Promise.resolve();
    const run = before.then(() => this.applyNow(weights, expectedGeneration, opts));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    writing.set(key, settled);
    void settled.then(() => writing.get(key) === settled && writing.delete(key));
    return run;
  }

  private async applyNow(
    weights: Record<string, number>,
    expectedGeneration: number,
    opts: ApplyOptions,
  ): Promise<{ routing: Routing; changes: RouteChange[] }> {
    const current = await this.read();
    if (current.routing.generation !== expectedGeneration) {
      // A retry of our own successful write lands here with the weights already in place: report no change.
      if (current.routing.generation === expectedGeneration + 1 && sameTarget(current.routing.weights, weights)) {
        return { routing: current.routing, changes: [] };
      }
      throw new GenerationConflictError(expectedGeneration, current.routing.generation);
    }
    const changes: RouteChange[] = [];
    // Raise before lowering (no instant with nothing ready), unless the caller needs the opposite.
    const order = Object.entries(weights).sort(([, a], [, b]) => (opts.lowerFirst ? a - b : b - a));
    for (const [destId, weight] of order) {
      const target = this.target(destId);
      if (!Number.isInteger(weight) || weight < 0 || weight > 256) throw new Error(`weight for ${destId} must be an integer 0-256, got ${weight}`);
      const before = current.detail[destId]!;
      if (weight > 0) {
        if (before.weight !== weight) await runtimeSet(this.opts.api, `set server ${target} weight ${weight}`);
        if (before.state !== 'ready') await runtimeSet(this.opts.api, `set server ${target} state ready`);
      } else if (before.state !== 'maint') {
        await runtimeSet(this.opts.api, `set server ${target} state maint`);
      }
      const from = current.routing.weights[destId] ?? 0;
      if (from !== weight) changes.push({ destination: destId, from, to: weight });
    }
    const generation = expectedGeneration + 1;
    if (!Number.isSafeInteger(generation)) throw new Error(`routing generation must be an integer, got ${expectedGeneration}`);
    await runtimeSet(this.opts.api, `experimental-mode on; set var ${this.genVar} int(${generation})`);
    return { routing: { generation, weights: { ...weights } }, changes };
  }

  /** Closes established connections to a destination, so no client keeps talking to a fenced primary. */
  async cutSessions(destId: string): Promise<void> {
    await runtimeSet(this.opts.api, `shutdown sessions server ${this.target(destId)}`);
  }
}

function sameTarget(a: Record<string, number>, b: Record<string, number>): boolean {
  return Object.keys(b).every((k) => (a[k] ?? 0) === b[k]);
}
