import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import type { Config } from '../../src/domain/config';
import { runbookKindKey, serviceKey, triggerKey } from '../../src/domain/search-attributes';
import { runbookWorkflowId } from '../../src/domain/workflow-ids';
import { startDevServer, type DevServer } from '../../dev/devserver/temporal-dev-server';
import { createFailoverWorker, installRuntimeLogging, type FailoverWorker } from '../../src/worker';
import type { FailoverResult } from '../../src/workflows/failover';
import { frameTextContaining, launchChromium, loopbackPage, screenshots, typeIntoEditor, visibleWithReload } from '../support/browser';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { testLogger } from '../support/temporal';
import { statusUntil, until } from '../support/wait';

const SERVICE = 'orders-bus';
const TASK_QUEUE = 'failover-manager';
const NAMESPACE = 'default';
const WORKFLOW_ID = runbookWorkflowId(SERVICE);
const DOCS_IMAGE = path.resolve(__dirname, '..', '..', 'docs', 'images', 'web-ui-failover.png');

/**
 * The Web UI as an operator would use it: its own dev server with the UI, a real worker, a real
 * Redis+HAProxy service, and Debian's Chromium clicking through the pages.
 */
describe('Temporal Web UI: starting and steering runbooks', () => {
  let server: DevServer;
  let fx: RedisServiceFixture;
  let config: Config;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let client: Client;
  let worker: FailoverWorker;
  let running: Promise<void>;
  let browser: Browser;
  let page: Page;
  let shot: (name: string) => Promise<string>;
  let ui: string;

  beforeAll(async () => {
    installRuntimeLogging(testLogger);
    [server, fx, browser] = await Promise.all([startDevServer({ headless: false }), startRedisService(SERVICE), launchChromium()]);
    ui = `${server.uiUrl!}/namespaces/${NAMESPACE}`;
    config = fx.config;
    connection = await Connection.connect({ address: server.address });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    client = new Client({ connection, namespace: NAMESPACE });
    worker = await createFailoverWorker({
      connection: nativeConnection,
      namespace: NAMESPACE,
      taskQueue: TASK_QUEUE,
      config: () => config,
      logger: testLogger,
      client,
    });
    running = worker.run();
    page = await loopbackPage(browser);
    shot = screenshots(page, 'web-ui');
  });

  afterAll(async () => {
    await browser?.close();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await nativeConnection?.close();
    await connection?.close();
    await fx?.stop();
    await server?.stop();
  });

  /** Runs a UI step; on failure leaves a screenshot of what the browser showed. */
  async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      await shot(`FAILED-${name}`).catch(() => undefined);
      throw err;
    }
  }

  it('a planned switchover started from the Start Workflow form completes, with its steps on the workflow page', async () => {
    const input = `{"service":"${SERVICE}","to":"redis-b","planned":true}`;
    const summary = `Planned switchover of **${SERVICE}** to redis-b (kernel upgrade on redis-a)`;

    await step('start-form', async () => {
      await page.goto(`${ui}/workflows`);
      await page.getByRole('button', { name: 'Start Workflow' }).click();
      await page.getByRole('heading', { name: 'Start Workflow', level: 1 }).waitFor();
      await page.getByRole('textbox', { name: 'Workflow ID' }).fill(WORKFLOW_ID);
      await page.getByRole('textbox', { name: 'Task Queue' }).fill(TASK_QUEUE);
      await page.getByRole('textbox', { name: 'Workflow Type' }).fill('failover');
      // Leaving the Task Queue field makes the form look up its pollers: the worker is there.
      await page.getByText('Task Queue is Active').waitFor();
      const data = page.locator('[role="textbox"][data-language="json"]');
      await typeIntoEditor(data, input);
      await page.getByRole('radio', { name: 'json/plain' }).check();
      await shot('start-form');
      // The summary lives in "More options" → User Metadata; the workflow cannot set it afterwards.
      await page.getByRole('button', { name: 'More options' }).click();
      await page.getByRole('heading', { name: 'User Metadata' }).waitFor();
      await typeIntoEditor(page.locator('[role="textbox"][data-language="markdown"]').first(), summary);
      expect(JSON.parse(await data.innerText())).toEqual(JSON.parse(input));
      await shot('start-form-filled');
      await page.getByRole('button', { name: 'Start Workflow' }).click();
      const toast = page.getByText('Workflow started successfully');
      await toast.waitFor();
      // The toast links to the new run and goes away after a few seconds: click before anything slow.
      await toast.click();
      await page.getByRole('heading', { name: WORKFLOW_ID, level: 1 }).waitFor();
      await shot('started');
    });

    // Through the client: it ran to the end, moved traffic, and carries the typed summary.
    const handle = client.workflow.getHandle(WORKFLOW_ID);
    const result = (await handle.result()) as FailoverResult;
    expect(result).toMatchObject({ service: SERVICE, source: 'redis-a', target: 'redis-b', planned: true, outcome: 'switched' });
    expect(result.steps.every((s) => s.outcome === 'ok')).toBe(true);
    const routing = await routerFor(fx.service).read();
    expect(routing.routing.weights).toEqual({ 'redis-a': 0, 'redis-b': 100 });
    const desc = await handle.describe();
    expect(desc.status.name).toBe('COMPLETED');
    expect(await desc.staticSummary()).toBe(summary);
    // The workflow labelled itself: the form set no search attributes.
    expect(desc.typedSearchAttributes.get(serviceKey)).toBe(SERVICE);
    expect(desc.typedSearchAttributes.get(runbookKindKey)).toBe('failover');
    expect(desc.typedSearchAttributes.get(triggerKey)).toBe('manual');

    await step('workflow-page', async () => {
      const closeToast = page.getByRole('log').getByRole('button', { name: 'Close' }).first();
      await closeToast.click({ timeout: 1000 }).catch(() => undefined); // it may have gone by itself
      await visibleWithReload(page, page.getByRole('main').getByText('Completed', { exact: true }), 15_000, 'status Completed');
      await page.getByRole('tab', { name: 'User Metadata' }).click();
      await page.getByRole('heading', { name: 'Current Details' }).waitFor();
      const summaryText = await frameTextContaining(page.frameLocator('#user-metadata-summary'), 'Planned switchover');
      expect(summaryText).toContain(`Planned switchover of ${SERVICE} to redis-b`);
      // Current details come from the worker (a query), so they show for a finished runbook too.
      const details = await frameTextContaining(page.frameLocator('#user-metadata-current-details'), '✔ done');
      expect(details).toContain(`failover · ${SERVICE}`);
      for (const name of ['plan', 'consistency gate', 'fence source', 'promote target', 'switch routing', 'validate']) {
        expect(details).toMatch(new RegExp(`✔ ${name}:`));
      }
      expect(details).toContain('redis-a → redis-b (planned)');
      expect(details).not.toMatch(/[✘▶]/);
      const file = await shot('completed-user-metadata');
      // Refreshing the committed picture is a deliberate act, not a side effect of every run.
      if (process.env.UPDATE_DOCS_IMAGES === '1') {
        fs.mkdirSync(path.dirname(DOCS_IMAGE), { recursive: true });
        fs.copyFileSync(file, DOCS_IMAGE);
      }
      expect(fs.statSync(file).size).toBeLessThan(300 * 1024);
    });

    // Filterable by the search attributes the workflow upserted: through the client and in the UI.
    const query = `Service = "${SERVICE}" AND RunbookKind = "failover"`;
    let listed: string[] = [];
    await until(
      async () => {
        listed = [];
        for await (const wf of client.workflow.list({ query })) listed.push(wf.workflowId);
        return listed.includes(WORKFLOW_ID);
      },
      10_000,
      `visibility query ${query}`,
    );
    expect(new Set(listed)).toEqual(new Set([WORKFLOW_ID]));
    await step('filtered-list', async () => {
      // The operator's way: Add Filter → attribute → value → Apply, once per attribute.
      await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Workflows', exact: true }).click();
      await page.getByRole('button', { name: 'Add Filter' }).waitFor();
      for (const [attribute, value] of [
        ['Service', SERVICE],
        ['RunbookKind', 'failover'],
      ] as const) {
        await page.getByRole('button', { name: 'Add Filter' }).click();
        await page.getByRole('textbox', { name: 'Search' }).fill(attribute);
        await page.getByRole('menuitem', { name: new RegExp(`^${attribute}\\b`) }).click();
        const editor = page.getByRole('menu', { name: new RegExp(`^Filter by ${attribute}\\b`) });
        await editor.getByRole('textbox', { name: 'Value' }).fill(value);
        await editor.getByRole('button', { name: 'Apply' }).click();
        await page.getByRole('button', { name: `${attribute} = "${value}"` }).waitFor();
      }
      // The list re-queries a moment after the last chip appears.
      await until(async () => /RunbookKind/.test(new URL(page.url()).searchParams.get('query') ?? ''), 10_000, 'both filters in the list query');
      expect(new URL(page.url()).searchParams.get('query')).toMatch(/Service.*orders-bus.*RunbookKind.*failover/);
      const table = page.getByRole('table', { name: 'Workflows' });
      await page.getByRole('heading', { name: '1 Workflow', exact: true, level: 1 }).waitFor();
      await table.getByRole('link', { name: WORKFLOW_ID }).waitFor();
      // Only the runbook itself: its consistency-gate child has RunbookKind "consistency-check".
      expect(await table.getByRole('row').count()).toBe(2); // header + one run
      await shot('filtered-list');
    });
  });

  it('an operator approves a waiting runbook from the UI with "Send an Update"', async () => {
    // Follows the switchover above: traffic is on redis-b and goes back to redis-a, this time behind an approval gate.
    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '5m' } } });
    const handle = await startMutatingRunbook(client, {
      taskQueue: TASK_QUEUE,
      type: 'failover',
      service: SERVICE,
      input: { to: 'redis-a', planned: true, actor: 'test' },
    });
    const waiting = await statusUntil(handle, (s) => s.phase === 'awaiting-approval', 20_000);
    expect(waiting.controls.awaitingApproval?.reason).toBe('policy requires approval');

    await step('approve', async () => {
      await page.goto(`${ui}/workflows/${WORKFLOW_ID}`);
      await page.getByRole('heading', { name: WORKFLOW_ID, level: 1 }).waitFor();
      await visibleWithReload(page, page.getByRole('main').getByText('Running', { exact: true }), 10_000, 'status Running');
      await page.getByRole('tab', { name: 'User Metadata' }).click();
      // Started by our client: the summary it set is what the operator reads first.
      expect(await frameTextContaining(page.frameLocator('#user-metadata-summary'), `failover of ${SERVICE}`)).toContain(`failover of ${SERVICE}`);
      const details = await frameTextContaining(page.frameLocator('#user-metadata-current-details'), '▶ approval');
      expect(details).toContain('✔ plan');
      // What the person must do is said first: waiting since when, why, and the command.
      expect(details).toMatch(/waiting for approval since \d{4}-\d\d-\d\dT[\d:.]+Z: policy requires approval/);
      expect(details).toContain(`approve ${SERVICE} --by <your name>`);
      await shot('awaiting-approval');
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send an Update' }).click();
      const dialog = page.getByRole('dialog', { name: 'Send an Update' });
      await dialog.getByRole('button', { name: 'Select an Update' }).click();
      // The names come from the worker (a metadata query), so the list fills in a moment later.
      await dialog.getByRole('option', { name: 'approve', exact: true }).waitFor();
      const offered = await dialog.getByRole('option').allInnerTexts();
      expect(offered.map((o) => o.trim())).toEqual(expect.arrayContaining(['approve', 'pause', 'resume', 'abort']));
      await dialog.getByRole('option', { name: 'approve', exact: true }).click();
      await typeIntoEditor(dialog.locator('[role="textbox"][data-language="json"]'), '{"by":"ui-operator","reason":"change window CHG-42"}');
      await shot('update-dialog');
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await page.getByText('Update successful').waitFor();
    });

    const result = (await handle.result()) as FailoverResult;
    expect(result.approval).toEqual({ by: 'ui-operator', reason: 'change window CHG-42', outcome: 'approved' });
    expect(result).toMatchObject({ source: 'redis-b', target: 'redis-a', outcome: 'switched' });
    expect((await routerFor(fx.service).read()).routing.weights).toEqual({ 'redis-a': 100, 'redis-b': 0 });

    await step('approved-page', async () => {
      // A closed run's details come from a worker replaying it: on a busy machine the first answer
      // can miss, and the page shows "No Current Details" until it is reloaded.
      let details = '';
      const deadline = Date.now() + 40_000;
      while (!details) {
        await page.reload();
        await visibleWithReload(page, page.getByRole('main').getByText('Completed', { exact: true }), 15_000, 'status Completed');
        details = await frameTextContaining(page.frameLocator('#user-metadata-current-details'), '✔ done').catch((err: Error) => {
          if (Date.now() > deadline) throw err;
          return '';
        });
      }
      expect(details).toContain('✔ approval: approved by ui-operator: change window CHG-42');
      await shot('approved-completed');
    });
  });
});
