import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../dev/devserver/free-port';

describe('freePort', () => {
  it('never hands out the same port twice in a row of 300 (a bare bind-and-close repeats some)', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort());
    expect(ports.length - new Set(ports).size).toBe(0);
  });

  it('returns a port a server can bind at once', async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    expect((server.address() as net.AddressInfo).port).toBe(port);
    await new Promise((resolve) => server.close(resolve));
  });
});
