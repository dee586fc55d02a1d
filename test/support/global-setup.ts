import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { startDevServer, type DevServer } from '../../dev/devserver/temporal-dev-server';

let server: DevServer | undefined;

/** One real Temporal dev server (headless, SQLite) for the whole run; each test file uses its own task queue. */
export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  server = await startDevServer({ headless: true });
  console.log(`temporal dev server on ${server.address} in ${Date.now() - started}ms (db ${server.dbFile})`);
  project.provide('temporalAddress', server.address);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}
