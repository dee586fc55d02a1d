import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/devserver/free-port';
import { startRedis } from '../../src/devserver/local-redis';

describe('local processes (the demo, the tests)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bind-'));
  let holder: net.Server | undefined;
  afterAll(() => holder?.close());

  it('a redis-server that cannot take its port is an error naming who holds it, not "up"', async () => {
    const port = await freePort();
    holder = net.createServer(() => undefined);
    await new Promise<void>((resolve) => holder!.listen(port, '127.0.0.1', resolve));
    // Something answers on the port, but it is not the redis-server just started.
    await expect(startRedis({ port, dir, name: 'taken' })).rejects.toThrow(new RegExp(`^taken (could not take port ${port}: it is held by pid ${process.pid} |exited before listening on ${port})`));
  });
});
