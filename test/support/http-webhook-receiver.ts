import type http from 'node:http';
import { startHttpServer, type LocalHttpServer } from './http-servers';

export interface RoutingState {
  generation: number;
  weights: Record<string, number>;
}

export interface ReceivedPut {
  key: string | undefined;
  auth: string | undefined;
  body: { service: string; generation: number; expectedGeneration: number; weights: Record<string, number> };
  answered: number | 'dropped';
}

export interface WebhookReceiver extends LocalHttpServer {
  state: RoutingState;
  puts: ReceivedPut[];
  /** Apply the next accepted PUT, then close the connection without answering (a lost response). */
  loseNextAnswer: boolean;
  /** While set, GET answers this instead of the live state (a lagging read replica behind read_url). */
  staleRead: RoutingState | undefined;
  /** A fresh receiver: this state, no remembered idempotency keys, no recorded PUTs. */
  reset(state: RoutingState): void;
}

/**
 * A receiver implementing the contract in docs/drivers/webhook-router.md: GET the routing, PUT with
 * compare-and-set on `expectedGeneration` (409 with the current routing on mismatch), and replay of the
 * first answer for a repeated Idempotency-Key.
 */
export async function startWebhookReceiver(initial: RoutingState, auth: { header: string; value: string }): Promise<WebhookReceiver> {
  const answers = new Map<string, { status: number; body: string }>();
  const send = (res: http.ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

  const receiver = {
    state: structuredClone(initial),
    puts: [] as ReceivedPut[],
    loseNextAnswer: false,
    staleRead: undefined as RoutingState | undefined,
    reset(state: RoutingState) {
      receiver.state = structuredClone(state);
      receiver.puts.length = 0;
      receiver.loseNextAnswer = false;
      receiver.staleRead = undefined;
      answers.clear();
    },
  };
  const server = await startHttpServer((req, res) => {
    const given = req.headers[auth.header.toLowerCase()];
    if (given !== auth.value) return send(res, 401, { error: `missing or wrong ${auth.header}` });
    if (req.method === 'GET') return send(res, 200, receiver.staleRead ?? receiver.state);
    if (req.method !== 'PUT') return send(res, 405, { error: 'GET or PUT' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: ReceivedPut['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedPut['body'];
      } catch {
        return send(res, 400, { error: 'body is not JSON' });
      }
      const key = req.headers['idempotency-key'] as string | undefined;
      const put: ReceivedPut = { key, auth: given, body, answered: 0 };
      receiver.puts.push(put);
      if (!key) return send(res, 400, { error: 'Idempotency-Key required' });
      const replay = answers.get(key);
      if (replay) {
        put.answered = replay.status;
        return res.writeHead(replay.status, { 'content-type': 'application/json' }).end(replay.body);
      }
      if (body.expectedGeneration !== receiver.state.generation) {
        put.answered = 409;
        return send(res, 409, receiver.state);
      }
      if (body.generation !== body.expectedGeneration + 1) return send(res, 400, { error: 'generation must be expectedGeneration + 1' });
      receiver.state = { generation: body.generation, weights: body.weights };
      answers.set(key, { status: 200, body: JSON.stringify(receiver.state) });
      if (receiver.loseNextAnswer) {
        receiver.loseNextAnswer = false;
        put.answered = 'dropped';
        res.socket?.destroy();
        return;
      }
      put.answered = 200;
      send(res, 200, receiver.state);
    });
  });
  return Object.assign(receiver, server);
}
