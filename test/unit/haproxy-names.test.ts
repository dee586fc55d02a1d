import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config-file';
import { HaproxyRouter } from '../../src/drivers/routers/haproxy';
import { runtimeCommand } from '../../src/drivers/routers/haproxy-runtime';
import { configProblems } from '../support/config-problems';

const service = (router: string, routerServer: string) => `
services:
  - name: orders-bus
    router: ${router}
    destinations:
      - id: redis-a
        zone: a
        region: r
        probe: { type: tcp, host: 127.0.0.1, port: 6379 }
      - id: redis-b
        zone: a
        region: r
        router_server: ${JSON.stringify(routerServer)}
        probe: { type: tcp, host: 127.0.0.1, port: 6380 }
`;
const haproxy = '{ type: haproxy, socket: /run/haproxy/admin.sock, backend: orders }';

describe('HAProxy names', () => {
  it('refuses a router_server that would smuggle a second runtime command, naming the field', () => {
    const problems = configProblems(service(haproxy, 'redis-b; shutdown sessions server orders/redis-a'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^services\[0\]\.destinations\[1\]\.router_server: expected a HAProxy name/);
  });

  it('refuses newlines and spaces in server and backend names', () => {
    expect(configProblems(service(haproxy, 'redis-b\nshutdown frontend fe'))[0]).toMatch(/destinations\[1\]\.router_server/);
    expect(configProblems(service(haproxy, 'redis b'))[0]).toMatch(/destinations\[1\]\.router_server/);
    const badBackend = service('{ type: haproxy, socket: /s, backend: "orders;disable frontend fe" }', 'redis-b');
    expect(configProblems(badBackend)[0]).toMatch(/^services\[0\]\.router\.backend: expected a HAProxy name/);
  });

  it('accepts HAProxy identifiers, and other routers keep their own server names', () => {
    expect(parseConfigText(service(haproxy, 'srv_B.eu-1:a')).services[0]!.destinations[1]!.router_server).toBe('srv_B.eu-1:a');
    const file = service('{ type: file, path: /tmp/r.json }', 'nats://10.0.1.5:4222');
    expect(parseConfigText(file).services[0]!.destinations[1]!.router_server).toBe('nats://10.0.1.5:4222');
  });

  it('builds no runtime command from an unchecked name, even when the config is bypassed', async () => {
    const api = { socket: '/nonexistent' };
    expect(() => new HaproxyRouter({ api, backend: 'orders', servers: { a: 'a; shutdown sessions server orders/b' } })).toThrow(
      /HAProxy server of destination a: expected a HAProxy name/,
    );
    expect(() => new HaproxyRouter({ api, backend: 'orders\nshow info', servers: {} })).toThrow(/HAProxy backend/);
    await expect(runtimeCommand(api, 'show info\nshutdown frontend fe')).rejects.toThrow(/single line/);
  });
});
