import { ApplicationFailure } from '@temporalio/activity';
import type { Config } from '../domain/config';

/** Versions a worker keeps of the live config it has seen: enough for every runbook it runs at once. */
export const KEEP_CONFIG_VERSIONS = 32;

export interface ConfigVersionSources {
  /** The live config at `minVersion` or newer (the worker's copy, refreshed from the supervisor). */
  latest?: (minVersion?: number) => Promise<{ version: number; config: Config }>;
  /** An older version's document, asked of the supervisor (it keeps the newest few); null when it has none. */
  older?: (version: number) => Promise<Config | null>;
  keep?: number;
}

/**
 * The config of an exact live version, for activities given a runbook's service reference: from
 * the versions this worker has seen, else the live one when it is that version, else asked of the
 * supervisor. A version nobody keeps any more is a non-retryable error naming it.
 */
export class ConfigVersions {
  private readonly kept = new Map<number, Config>();

  constructor(private readonly sources: ConfigVersionSources) {}

  remember(version: number, config: Config): void {
    this.kept.delete(version);
    this.kept.set(version, config);
    const keep = this.sources.keep ?? KEEP_CONFIG_VERSIONS;
    // Oldest versions go first: runbooks started long ago are the fewest.
    for (const v of [...this.kept.keys()].sort((a, b) => a - b)) {
      if (this.kept.size <= keep) break;
      this.kept.delete(v);
    }
  }

  /** The versions held here, oldest first (for messages and tests). */
  versions(): number[] {
    return [...this.kept.keys()].sort((a, b) => a - b);
  }

  async at(version: number): Promise<Config> {
    const held = this.kept.get(version);
    if (held) return held;
    if (!this.sources.latest && !this.sources.older) {
      throw ApplicationFailure.nonRetryable(
        `config version ${version} cannot be resolved: this worker does not follow the supervisor's live config (supervision.enabled is false here)`,
        'ConfigVersionUnavailable',
      );
    }
    if (this.sources.latest) {
      // At least `version`: a worker whose copy is behind the runbook's snapshot fetches the live one first.
      const live = await this.sources.latest(version);
      this.remember(live.version, live.config);
      if (live.version === version) return live.config;
    }
    const older = await this.sources.older?.(version);
    if (older) {
      this.remember(version, older);
      return older;
    }
    const here = this.versions();
    throw ApplicationFailure.nonRetryable(
      `config version ${version} is no longer kept: this worker holds ${here.length ? `versions ${here.join(', ')}` : 'no version'} and the supervisor ` +
        'keeps only the newest documents; the runbook started with it must be started again (it would otherwise act with bounds it did not start with)',
      'ConfigVersionGone',
    );
  }
}
