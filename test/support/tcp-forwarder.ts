import net from 'node:net';

export interface TcpForwarder {
  port: number;
  /** Refuse new connections and drop the open ones: this path to the target is cut. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Delay every answer from the target by this long (a slow path, or a slow destination). */
  delayMs: number;
  close(): Promise<void>;
}

/**
 * A TCP forwarder on 127.0.0.1 to `targetPort`: one observer's own network path to a destination,
 * which a test can cut or slow down without touching the destination itself.
 */
export async function startForwarder(targetPort: number): Promise<TcpForwarder> {
  const sockets = new Set<net.Socket>();
  const onConnection = (client: net.Socket) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => (f.delayMs > 0 ? setTimeout(() => client.writable && client.write(d), f.delayMs) : client.write(d)));
  };
  let server = net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      server.close(() => resolve());
    });
  const f: TcpForwarder = {
    port,
    delayMs: 0,
    cut: stop,
    async restore() {
      server = net.createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
    },
    close: stop,
  };
  return f;
}
