/**
 * What changed between two config documents, readable by a person and usable by the supervisor:
 * lists of services and destinations are compared by name / id (a reordered list is no change),
 * everything else key by key.
 */

export interface ConfigChange {
  /** e.g. `services[orders-bus].destinations[redis-b].weight`, `failover_manager.failover_detection.failure_threshold` */
  path: string;
  kind: 'added' | 'removed' | 'changed';
  from?: unknown;
  to?: unknown;
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Arrays whose items carry a name or id are keyed by it. */
function keyOf(item: Json): string | undefined {
  if (!isObject(item)) return undefined;
  if (typeof item.name === 'string') return item.name;
  if (typeof item.id === 'string') return item.id;
  if (typeof item.service === 'string' && typeof item.destination === 'string') return `${item.service}/${item.destination}`;
  return undefined;
}

function keyed(list: Json[]): Map<string, Json> | undefined {
  const map = new Map<string, Json>();
  for (const item of list) {
    const k = keyOf(item);
    if (k === undefined || map.has(k)) return undefined;
    map.set(k, item);
  }
  return map;
}

function same(a: Json, b: Json): boolean {
  return canonical(a) === canonical(b);
}

/** JSON with object keys sorted: equal documents give equal text. */
export function canonical(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A short stable fingerprint of a document (FNV-1a over its canonical JSON). */
export function configHash(v: Json): string {
  let h = 0x811c9dc5;
  const text = canonical(v);
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function diffConfig(before: Json, after: Json, path = ''): ConfigChange[] {
  if (same(before, after)) return [];
  const at = (k: string) => (path ? `${path}.${k}` : k);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => {
      if (before[k] === undefined) return after[k] === undefined ? [] : [{ path: at(k), kind: 'added' as const, to: after[k] }];
      if (after[k] === undefined) return [{ path: at(k), kind: 'removed' as const, from: before[k] }];
      return diffConfig(before[k], after[k], at(k));
    });
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const a = keyed(before);
    const b = keyed(after);
    if (a && b) {
      const keys = [...new Set([...a.keys(), ...b.keys()])];
      return keys.flatMap((k) => {
        const p = `${path}[${k}]`;
        if (!a.has(k)) return [{ path: p, kind: 'added' as const, to: b.get(k) }];
        if (!b.has(k)) return [{ path: p, kind: 'removed' as const, from: a.get(k) }];
        return diffConfig(a.get(k), b.get(k), p);
      });
    }
  }
  return [{ path: path || '(root)', kind: 'changed', from: before, to: after }];
}

function short(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One line per change: `~ path: 3 → 2`, `+ path: value`, `- path`. */
export function formatDiff(changes: readonly ConfigChange[]): string[] {
  return changes.map((c) =>
    c.kind === 'added' ? `+ ${c.path}: ${short(c.to)}` : c.kind === 'removed' ? `- ${c.path}` : `~ ${c.path}: ${short(c.from)} → ${short(c.to)}`,
  );
}

/** Services a change touches: by name, and whether the fleet-wide policy changed (it reaches every service). */
export function affectedServices(changes: readonly ConfigChange[]): { added: string[]; removed: string[]; changed: string[]; policy: boolean } {
  const out = { added: new Set<string>(), removed: new Set<string>(), changed: new Set<string>(), policy: false };
  for (const c of changes) {
    if (c.path.startsWith('failover_manager') || c.path === '(root)') out.policy = true;
    const m = /^services\[([^\]]+)\](.*)$/.exec(c.path);
    if (!m) continue;
    const [, name, rest] = m;
    if (rest === '' && c.kind === 'added') out.added.add(name!);
    else if (rest === '' && c.kind === 'removed') out.removed.add(name!);
    else out.changed.add(name!);
  }
  return { added: [...out.added], removed: [...out.removed], changed: [...out.changed], policy: out.policy };
}
