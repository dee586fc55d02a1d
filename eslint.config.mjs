import tseslint from 'typescript-eslint';

/**
 * Type-aware checks on every TypeScript file (`npm run lint`, which `npm test` runs). Workflow
 * determinism (what src/workflows may import) is scripts/lint-workflows.ts, run by the same script.
 */
const names = [
  'error',
  { selector: 'default', format: ['camelCase'], leadingUnderscore: 'allow', trailingUnderscore: 'allow' },
  { selector: 'import', format: ['camelCase', 'PascalCase'] },
  { selector: 'variable', format: ['camelCase', 'PascalCase', 'UPPER_CASE'], leadingUnderscore: 'allow', trailingUnderscore: 'allow' },
  // Keys destructured out of the YAML config (failure_threshold, max_lag…) keep the config's spelling.
  { selector: 'variable', modifiers: ['destructured'], format: ['camelCase', 'PascalCase', 'UPPER_CASE', 'snake_case'], leadingUnderscore: 'allow' },
  { selector: 'function', format: ['camelCase', 'PascalCase'] },
  { selector: 'parameter', format: ['camelCase', 'PascalCase'], leadingUnderscore: 'allow', trailingUnderscore: 'allow' },
  { selector: 'typeLike', format: ['PascalCase'] },
  { selector: 'enumMember', format: ['PascalCase', 'UPPER_CASE'] },
  // Properties mirror the YAML config and wire formats (snake_case keys, HTTP headers, metric labels).
  {
    selector: ['property', 'method', 'accessor'],
    format: ['camelCase', 'PascalCase', 'UPPER_CASE', 'snake_case'],
    leadingUnderscore: 'allow',
    trailingUnderscore: 'allow',
  },
  { selector: ['property', 'method'], modifiers: ['requiresQuotes'], format: null },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-artifacts/**', 'test/fixtures/**', '.cache/**'] },
  {
    files: ['src/**/*.ts', 'dev/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits loses its error; in workflow code it can also outlive the step it belongs to.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/naming-convention': names,
    },
  },
  {
    // The product never depends on dev tooling (the build, rooted at src, would fail on it too).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/dev/*', '**/dev/**'], message: 'src/ must not import dev tooling (dev/)' }] }],
    },
  },
);
