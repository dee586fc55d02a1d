import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lintTree } from '../../scripts/lint-workflows';

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lint-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('workflow import lint', () => {
  it('passes on the project itself', () => {
    expect(lintTree(path.resolve(__dirname, '..', '..'))).toEqual([]);
  });

  it('accepts the allowed imports', () => {
    const root = tree({
      'src/workflows/a.ts': [
        "import * as wf from '@temporalio/workflow';",
        "import type { Activities } from '../activities';",
        "import { type X, type Y } from '../activities/types';",
        "import { plan } from '../domain/plan';",
        "import { b } from './b';",
      ].join('\n'),
      'src/domain/plan.ts': "import { z } from 'zod';\nimport { msToNumber } from '@temporalio/common/lib/time';\nimport { x } from './x';",
    });
    expect(lintTree(root)).toEqual([]);
  });

  it('flags Node modules, I/O clients and activity implementations in workflows', () => {
    const root = tree({
      'src/workflows/bad.ts': [
        "import fs from 'node:fs';",
        "import Redis from 'ioredis';",
        "import { createActivities } from '../activities';",
        "import { type A, createActivities as c } from '../activities';",
        "const p = require('path');",
        "export { x } from '../activities/probes';",
      ].join('\n'),
    });
    expect(lintTree(root).map((v) => `${v.line}: ${v.message.split(':')[0]}`)).toEqual([
      '1: imports "node',
      '2: imports "ioredis"',
      '3: imports activity code "../activities"; use "import type"',
      '4: imports activity code "../activities"; use "import type"',
      '5: imports "path"',
      '6: imports activity code "../activities/probes"; use "import type"',
    ]);
  });

  it('keeps src/domain free of Node and I/O', () => {
    const root = tree({ 'src/domain/x.ts': "import net from 'net';\nimport { a } from '../activities/a';" });
    expect(lintTree(root)).toHaveLength(2);
  });

  it("holds tracing's workflow interceptors to the OpenTelemetry API and the workflow package", () => {
    const root = tree({
      'src/tracing/workflow-interceptors.ts': [
        "import * as otel from '@opentelemetry/api';",
        "import { extractContextFromHeaders } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';",
        "import * as wf from '@temporalio/workflow';",
        "import fs from 'node:fs';",
      ].join('\n'),
    });
    expect(lintTree(root).map((v) => `${v.file}:${v.line}`)).toEqual(['src/tracing/workflow-interceptors.ts:4']);
  });
});
