import type { Reporter, TestModule } from 'vitest/node' with { 'resolution-mode': 'import' };

/**
 * Ends the run with one plain line, "tests: N passed, N failed", for tools that read the last line.
 * A test that never ran because its file failed (a beforeAll that threw, a file that did not load)
 * counts as failed, not skipped: it proved nothing.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const brokenFiles: string[] = [];
    for (const m of modules) {
      const fileFailed = m.state() === 'failed';
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed' || fileFailed) failedHere++;
        else skipped++;
      }
      if (fileFailed && failedHere === 0) failedHere = 1; // failed with no test to blame, e.g. did not load
      failed += failedHere;
      if (fileFailed) brokenFiles.push(m.moduleId.replace(`${process.cwd()}/`, ''));
    }
    const files = brokenFiles.length ? ` (in ${brokenFiles.join(', ')})` : '';
    console.log(`\ntests: ${passed} passed, ${failed} failed${files}${skipped ? `, ${skipped} skipped` : ''}`);
  }
}
