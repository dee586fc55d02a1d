import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../dev/devserver/free-port';
import { startDevServer } from '../../dev/devserver/temporal-dev-server';

/** A port some other process holds, as happens when another server takes a port between choice and use. */
async function occupiedPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const holder = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (holder.address() as net.AddressInfo).port,
    release: () =>
      new Promise((resolve) => {
        holder.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

describe('temporal dev server start', () => {
  it('starts on fresh ports when a port it was given by its own choice was taken meanwhile', async () => {
    const taken = await occupiedPort();
    const offered: number[] = [];
    try {
      const server = await startDevServer({
        headless: true,
        choosePort: async () => {
          const port = offered.length === 0 ? taken.port : await freePort();
          offered.push(port);
          return port;
        },
      });
      try {
        expect(offered[0]).toBe(taken.port);
        expect(server.address).toBe(`127.0.0.1:${offered[1]}`);
      } finally {
        await server.stop();
      }
    } finally {
      await taken.release();
    }
  });

  it('does not move off a port the caller chose: it fails at once, naming its log', async () => {
    const taken = await occupiedPort();
    try {
      await expect(startDevServer({ headless: true, port: taken.port })).rejects.toThrow(/exited with 1; see .*\.log/);
    } finally {
      await taken.release();
    }
  });
});
