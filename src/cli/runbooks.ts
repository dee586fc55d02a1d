// Shared with the MCP server and the TypeScript API: see src/client/runs.ts.
export { asRunning, describeOrUndefined, failureOf, runningUnder, type RunInfo } from '../client/runs';
