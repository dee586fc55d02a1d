import net from 'node:net';

const HOST = '127.0.0.1';

/**
 * A TCP port on 127.0.0.1 that is free and stays reserved for about a minute.
 *
 * A port that was merely bound and closed goes straight back to the kernel's pool, where another
 * process's bind(0) or an outgoing connection can take it before our server binds it (a real race
 * when tests start several servers at once). So we connect to it and close the accepted side first:
 * the port then sits in TIME_WAIT, which keeps the kernel from handing it out again, while a server
 * that sets SO_REUSEADDR (redis, haproxy, Go, Erlang and Node servers all do) can still bind it.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.once('connection', (accepted) => {
      const { port } = srv.address() as net.AddressInfo;
      // Server side closes first: the TIME_WAIT lands on our port, not on the client's.
      accepted.once('close', () => srv.close(() => resolve(port)));
      accepted.destroy();
    });
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      const client = net.connect(port, HOST);
      client.on('error', () => undefined);
      client.once('close', () => undefined);
      // Close the client only once the server side has closed.
      client.once('end', () => client.destroy());
    });
  });
}
