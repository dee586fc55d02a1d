import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Frame, type FrameLocator, type Locator, type Page } from 'playwright-core';

/** Debian's `chromium` package; playwright-core brings no browser of its own. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const ARTIFACTS_DIR = path.resolve(__dirname, '..', '..', 'test-artifacts');

/** Headless Chromium with nothing phoning home, so a test stays on loopback. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install the Debian package "chromium" (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-gpu', '--no-first-run', '--disable-sync'],
  });
}

/** A page whose requests to anything but loopback fail at once (the UI's news feed, fonts, docs links). */
export async function loopbackPage(browser: Browser, viewport = { width: 1360, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport, timezoneId: 'UTC', locale: 'en-US' });
  await context.route(
    (url) => !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname),
    (route) => route.abort('blockedbyclient'),
  );
  // Bounded waits everywhere: a missing element fails the test instead of hanging it.
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  return context.newPage();
}

/** Saves numbered screenshots under test-artifacts/<dir>/, emptied first so a run's pictures stand alone. */
export function screenshots(page: Page, dir: string) {
  const out = path.join(ARTIFACTS_DIR, dir);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  let n = 0;
  return async (name: string): Promise<string> => {
    const file = path.join(out, `${String(++n).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file });
    return file;
  };
}

/**
 * Types into a CodeMirror editor (the UI's JSON and Markdown fields) and leaves it. The UI
 * reformats JSON when the editor loses focus, which moves everything below it; leaving the editor
 * first keeps the next click from landing on a moving target.
 */
export async function typeIntoEditor(editor: Locator, text: string): Promise<void> {
  await editor.click();
  await editor.page().keyboard.press('ControlOrMeta+A');
  await editor.page().keyboard.insertText(text);
  await editor.blur();
}

/** Waits until `locator` is visible; on timeout reloads the page and tries again, up to `timeoutMs` in all. */
export async function visibleWithReload(page: Page, locator: Locator, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    try {
      await locator.first().waitFor({ state: 'visible', timeout: Math.max(1, Math.min(left, 5_000)) });
      return;
    } catch {
      if (Date.now() >= deadline) throw new Error(`${what}: not visible within ${timeoutMs}ms (page ${page.url()})`);
      await page.reload();
    }
  }
}

/** The text of an iframe's document, waiting until it contains `expected`. */
export async function frameTextContaining(frame: FrameLocator | Frame, expected: string, timeoutMs = 10_000): Promise<string> {
  const body = frame.locator('body');
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = (await body.innerText({ timeout: Math.max(1, deadline - Date.now()) }).catch(() => '')) ?? '';
    if (text.includes(expected)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`frame text never contained ${JSON.stringify(expected)}; last text: ${JSON.stringify(text.slice(0, 500))}`);
}
