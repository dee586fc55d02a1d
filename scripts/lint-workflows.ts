import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * Workflow code runs in Temporal's deterministic sandbox. This check fails when src/workflows
 * imports anything but @temporalio/workflow, src/domain, src/api and *types* from src/activities,
 * or when src/domain or src/api (which workflows import) pull in Node or I/O.
 */
export interface Violation {
  file: string;
  line: number;
  message: string;
}

const DOMAIN_PACKAGES = [/^zod(\/|$)/, /^@temporalio\/common(\/|$)/];
/** Workflow interceptors outside src/workflows that tracing bundles into the sandbox: the OpenTelemetry API the SDK patches for it. */
const SANDBOX_TRACING = 'src/tracing/workflow-interceptors.ts';
const TRACING_PACKAGES = ['@temporalio/workflow', '@opentelemetry/api', '@temporalio/interceptors-opentelemetry/lib/instrumentation'];

export function lintFile(file: string, root: string): Violation[] {
  const rel = path.relative(root, file).split(path.sep).join('/');
  const inWorkflows = rel.startsWith('src/workflows/');
  const inDomain = rel.startsWith('src/domain/');
  // The contract (message definitions, input schemas) is shared by workflows and their clients.
  const inApi = rel.startsWith('src/api/');
  const inTracing = rel === SANDBOX_TRACING;
  if (!inWorkflows && !inDomain && !inApi && !inTracing) return [];
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: Violation[] = [];
  const report = (node: ts.Node, message: string) => out.push({ file: rel, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, message });

  const check = (node: ts.Node, spec: string, typeOnly: boolean) => {
    const resolved = spec.startsWith('.')
      ? path
          .relative(root, path.resolve(path.dirname(file), spec))
          .split(path.sep)
          .join('/')
      : undefined;
    if (inTracing) {
      if (typeOnly || TRACING_PACKAGES.includes(spec)) return;
      return report(node, `imports "${spec}": tracing's workflow interceptors may import only ${TRACING_PACKAGES.join(', ')}`);
    }
    if (inWorkflows) {
      // Type-only imports are erased at compile time: nothing of them reaches the sandbox.
      if (spec === '@temporalio/workflow' || typeOnly) return;
      if (resolved?.startsWith('src/workflows') || resolved?.startsWith('src/domain') || resolved?.startsWith('src/api')) return;
      if (resolved?.startsWith('src/activities') && typeOnly) return;
      if (resolved?.startsWith('src/activities')) return report(node, `imports activity code "${spec}"; use "import type"`);
      return report(node, `imports "${spec}": workflow code may import only @temporalio/workflow, src/domain, src/api and types of activities`);
    }
    if (inApi) {
      if (spec === '@temporalio/workflow' || typeOnly || resolved?.startsWith('src/domain') || resolved?.startsWith('src/api')) return;
      if (!resolved && DOMAIN_PACKAGES.some((p) => p.test(spec))) return;
      return report(node, `imports "${spec}": src/api is the contract workflows import: @temporalio/workflow, zod, src/domain and itself only`);
    }
    if (resolved?.startsWith('src/domain')) return;
    if (!resolved && DOMAIN_PACKAGES.some((p) => p.test(spec))) return;
    report(node, `imports "${spec}": src/domain is pure (zod, @temporalio/common and itself only) because workflows import it`);
  };

  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = ts.isImportDeclaration(node) ? node.importClause : undefined;
      const typeOnly = ts.isImportDeclaration(node)
        ? !!clause &&
          (clause.isTypeOnly ||
            (!clause.name && !!clause.namedBindings && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.every((e) => e.isTypeOnly)))
        : node.isTypeOnly;
      check(node, node.moduleSpecifier.text, typeOnly);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0]!)) {
      const callee = node.expression;
      if ((ts.isIdentifier(callee) && callee.text === 'require') || callee.kind === ts.SyntaxKind.ImportKeyword) {
        check(node, (node.arguments[0] as ts.StringLiteral).text, false);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

export function lintTree(root: string): Violation[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mts|cts|js)$/.test(e.name)) files.push(p);
    }
  };
  walk(path.join(root, 'src', 'workflows'));
  walk(path.join(root, 'src', 'domain'));
  walk(path.join(root, 'src', 'api'));
  if (fs.existsSync(path.join(root, SANDBOX_TRACING))) files.push(path.join(root, SANDBOX_TRACING));
  return files.flatMap((f) => lintFile(f, root));
}

if (require.main === module) {
  const violations = lintTree(path.resolve(__dirname, '..'));
  for (const v of violations) console.error(`${v.file}:${v.line}: ${v.message}`);
  if (violations.length > 0) {
    console.error(`lint-workflows: ${violations.length} problem(s)`);
    process.exit(1);
  }
  console.log('lint-workflows: workflow, domain and api imports are deterministic');
}
