import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { Gauge, Registry } from 'prom-client';

export interface LocalHttpServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** A node http (or https, given a key and cert) server on a free 127.0.0.1 port. */
export async function startHttpServer(handler: http.RequestListener, tls?: { key: string; cert: string }): Promise<LocalHttpServer> {
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SelfSignedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A self-signed certificate for `dnsName` (and nothing else), made with the openssl CLI. */
export function selfSignedCert(dir: string, dnsName: string): SelfSignedCert {
  const certFile = path.join(dir, `${dnsName}.crt`);
  const keyFile = path.join(dir, `${dnsName}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${dnsName}`,
      '-addext',
      `subjectAltName=DNS:${dnsName}`,
    ],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

export interface MetricsTarget extends LocalHttpServer {
  /** "127.0.0.1:port", for a scrape config */
  address: string;
  set(value: number): void;
}

/** A scrape target exposing one gauge through prom-client; the test moves its value. */
export async function startMetricsTarget(metric: string, initial: number): Promise<MetricsTarget> {
  const registry = new Registry();
  const gauge = new Gauge({ name: metric, help: 'test gauge driven by the test', registers: [registry] });
  gauge.set(initial);
  const server = await startHttpServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  return { ...server, address: `127.0.0.1:${server.port}`, set: (v) => gauge.set(v) };
}
