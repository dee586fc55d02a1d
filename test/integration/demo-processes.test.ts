import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/devserver/free-port';
import { portHolders } from '../../dev/devserver/holders';
import { startHaproxy } from '../../dev/devserver/local-haproxy';
import { startRedis } from '../../dev/devserver/local-redis';

describe('local processes (the demo, the tests)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bind-'));
  let holder: net.Server | undefined;
  afterAll(() => holder?.close());

  it('a HAProxy reload takes over the ports of the process it replaces (waiting for it, not refused)', async () => {
    const [frontendPort, adminPort, serverPort] = [await freePort(), await freePort(), await freePort()];
    const first = await startHaproxy({ dir, frontendPort, adminPort, backend: 'reload', servers: [{ name: 'a', port: serverPort, weight: 100 }] });
    const second = await first.reload();
    try {
      expect(second.child.pid).not.toBe(first.child.pid);
      expect(portHolders(adminPort).map((h) => h.pid)).toContain(second.child.pid);
    } finally {
      await second.stop();
      await first.stop();
    }
  });

  it('a redis-server that cannot take its port is an error naming who holds it, not "up"', async () => {
    const port = await freePort();
    holder = net.createServer(() => undefined);
    await new Promise<void>((resolve) => holder!.listen(port, '127.0.0.1', resolve));
    // Something answers on the port, but it is not the redis-server just started.
    await expect(startRedis({ port, dir, name: 'taken' })).rejects.toThrow(
      new RegExp(`^taken (exited before listening on|did not take port) ${port}.* \\(port ${port} is held by pid ${process.pid} \\(`),
    );
  });
});
