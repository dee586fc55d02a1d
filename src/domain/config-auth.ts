import { base64Decode, ed25519PublicKey, isReservedActor, RESERVED_ACTORS } from './control-auth';
import type { Config } from './config';
import { canonical } from './config-diff';
import { ed25519Verify, sha512 } from './ed25519';

/**
 * Who may change the live config. Pure and deterministic: it runs in the supervisor's update
 * validators. The *live* config decides (a new document cannot name its own appliers in):
 * `failover_manager.config_changes.appliers` lists who may apply or roll back a version; each
 * request is Ed25519-signed over the action, the supervisor, the name, the reason, the live version
 * it was built from and what it installs (the document's hash, or the version rolled back to).
 * Bound to the live version, a signed request cannot be sent again once it changed something.
 */
export type ConfigAction = 'apply' | 'rollback';

export interface ConfigChangeStatement {
  action: ConfigAction;
  supervisorId: string;
  by: string;
  reason: string;
  /** The live version the change was built from (expectVersion). */
  basedOn: number;
  /** apply: documentDigest of the document; rollback: `version N`. */
  target: string;
}

export function configChangeMessage(s: ConfigChangeStatement): string {
  return ['failover-manager config v1', s.action, s.supervisorId, s.by, s.reason, String(s.basedOn), s.target].join('\n');
}

export interface ConfigChangeRequestAuth {
  by: string;
  reason: string;
  signature?: string | undefined;
  expectVersion?: number | undefined;
  dryRun?: boolean | undefined;
}

/** SHA-512 (hex) of the document's canonical JSON: what a signed apply installs, exactly. */
export function documentDigest(doc: unknown): string {
  const bytes = sha512(new TextEncoder().encode(canonical(doc)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The key config changes by `name` are checked against: config_changes.keys, then the fleet's approval.keys. */
export function applierKey(live: Config, name: string): string | undefined {
  const fm = live.failover_manager;
  return fm.config_changes.keys[name] ?? fm.failover_execution.approval.keys[name];
}

/** Why `req` may not change the config; undefined when it may. */
export function configChangeRefusal(
  live: Config,
  req: ConfigChangeRequestAuth,
  ctx: { action: ConfigAction; supervisorId: string; liveVersion: number; target: string },
): string | undefined {
  const by = typeof req.by === 'string' ? req.by.trim() : '';
  if (isReservedActor(by)) return `by: "${by}" is a name the system acts under (${RESERVED_ACTORS.join(', ')}); give your own name`;
  const appliers = live.failover_manager.config_changes.appliers;
  // A dry run changes nothing: anyone who may read the config may see a diff.
  if (appliers.length === 0 || req.dryRun) return undefined;
  const who = `config_changes.appliers of live version ${ctx.liveVersion}: ${appliers.join(', ')}`;
  if (!appliers.includes(by)) return `${by} may not ${ctx.action} the config: only the appliers may (${who}), each request signed with their key (CLI --key)`;
  if (!req.signature) return `config ${ctx.action} by ${by} must be signed with their key (${who}): use the CLI with --key, or FAILOVER_SIGNING_KEY`;
  if (req.expectVersion === undefined) return `config ${ctx.action} by ${by}: a signed change names the live version it was built from (expectVersion)`;
  const key = applierKey(live, by);
  const pub = key !== undefined ? ed25519PublicKey(key) : undefined;
  const sig = base64Decode(req.signature);
  const message = configChangeMessage({
    action: ctx.action,
    supervisorId: ctx.supervisorId,
    by,
    reason: req.reason,
    basedOn: req.expectVersion,
    target: ctx.target,
  });
  if (!pub || !sig || !ed25519Verify(pub, new TextEncoder().encode(message), sig)) {
    return `signature of ${by} does not verify against their key (config_changes.keys.${by}, or failover_execution.approval.keys.${by}) for this ${ctx.action} based on version ${req.expectVersion}`;
  }
  return undefined;
}
