import type { Routing } from '../../domain/routing';

export interface ApplyOptions {
  lowerFirst?: boolean;
}

export interface RouteChange {
  destination: string;
  from: number;
  to: number;
}

export interface RouterReadout {
  routing: Routing;
  /** What the router itself says per destination, for status and audit. */
  detail: Record<string, { state: 'ready' | 'drain' | 'maint'; weight: number; up?: boolean }>;
}

/** What a switch changes. Every write is compare-and-set on the routing generation. */
export interface Router {
  read(): Promise<RouterReadout>;
  /**
   * `lowerFirst`: take weight away before giving it (single-writer switch: never two destinations
   * ready at once, at the price of a moment with none). Default: raise first, so capacity never dips.
   * Routers that write the whole table at once have no order and ignore it.
   */
  apply(weights: Record<string, number>, expectedGeneration: number, opts?: ApplyOptions): Promise<{ routing: Routing; changes: RouteChange[] }>;
  /** Ends live client sessions to a destination (a no-op where the router has none). */
  cutSessions(destId: string): Promise<void>;
}

export class GenerationConflictError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`routing changed underneath this runbook: expected generation ${expected}, found ${actual}`);
    this.name = 'GenerationConflictError';
  }
}
