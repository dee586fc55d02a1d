import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowInterceptorModules } from '../src/worker';

/**
 * Bundles the workflow code once at build time (dist/workflow-bundle.js, or the path given), so a
 * worker started from dist polls at once instead of bundling for seconds (see prebuiltWorkflowBundle).
 */
async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const out = path.resolve(process.argv[2] ?? path.join(root, 'dist', 'workflow-bundle.js'));
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(root, 'src', 'workflows', 'index.ts'),
    // The runbook metrics interceptors; tracing's are added only when a worker bundles from source.
    workflowInterceptorModules: workflowInterceptorModules(),
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  console.log(`workflow bundle: ${out} (${Math.round(code.length / 1024)} KiB)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
