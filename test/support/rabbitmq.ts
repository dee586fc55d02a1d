import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { LocalRabbitmq } from '../../dev/devserver/local-rabbitmq';

/** An AMQP connection as the broker's admin user (test side: producers and consumers). */
export async function connectAdmin(broker: LocalRabbitmq): Promise<ChannelModel> {
  const conn = await amqp.connect({
    protocol: 'amqp',
    hostname: '127.0.0.1',
    port: broker.amqpPort,
    username: broker.user,
    password: broker.password,
    heartbeat: 0,
  });
  conn.on('error', () => {});
  return conn;
}

/** A producer with publisher confirms: each publish resolves on the broker's ack and rejects on its nack. */
export class ConfirmingProducer {
  private constructor(private readonly ch: ConfirmChannel) {}

  static async open(conn: ChannelModel): Promise<ConfirmingProducer> {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    return new ConfirmingProducer(ch);
  }

  publish(queue: string, body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ch.sendToQueue(queue, Buffer.from(body), { persistent: true }, (err) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(),
      );
    });
  }

  async publishMany(queue: string, n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, (_, i) => this.publish(queue, `m${i}`)));
  }

  /** 'acked' or 'nacked': what the broker said about one publish. */
  async outcome(queue: string, body = 'probe'): Promise<'acked' | 'nacked'> {
    return this.publish(queue, body).then(
      () => 'acked' as const,
      () => 'nacked' as const,
    );
  }
}

/** Declares durable classic queues, emptied, with the given arguments. */
export async function freshQueues(conn: ChannelModel, names: string[], args: Record<string, unknown> = {}): Promise<void> {
  const ch = await conn.createChannel();
  for (const q of names) {
    await ch.assertQueue(q, { durable: true, arguments: args });
    await ch.purgeQueue(q);
  }
  await ch.close();
}
