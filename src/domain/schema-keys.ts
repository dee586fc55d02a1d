import type { z } from 'zod';

type Def = { type: string; [k: string]: unknown };
const defOf = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Strips defaults, optionals and pipes down to the schema that parses the value. */
function unwrap(schema: unknown): unknown {
  for (let s = schema, depth = 0; depth < 20; depth++) {
    const def = defOf(s);
    if (!def) return s;
    if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) s = def.innerType;
    else if (def.type === 'pipe') s = defOf(def.out)?.type === 'transform' ? def.in : def.out;
    else if (def.type === 'lazy') s = (def.getter as () => unknown)();
    else return s;
  }
  return schema;
}

/** The option of a (discriminated) union that the input is meant for: the one whose discriminator literal it carries. */
function optionFor(def: Def, input: unknown): unknown {
  const options = (def.options as unknown[]) ?? [];
  const disc = typeof def.discriminator === 'string' ? def.discriminator : 'type';
  if (isObj(input) && input[disc] !== undefined) {
    for (const o of options) {
      const field = defOf(unwrap(o))?.shape as Record<string, unknown> | undefined;
      const lit = defOf(field?.[disc]);
      if (lit?.type === 'literal' && (lit.values as unknown[]).includes(input[disc])) return o;
    }
  }
  return options.length === 1 ? options[0] : undefined;
}

/**
 * The keys an object schema at `path` accepts (for "did you mean"), following the input through
 * arrays and discriminated unions; undefined when the path does not lead to an object schema.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] | undefined {
  let s: unknown = schema;
  let value: unknown = input;
  for (let i = 0; ; i++) {
    s = unwrap(s);
    let def = defOf(s);
    if (def?.type === 'union') {
      s = unwrap(optionFor(def, value));
      def = defOf(s);
    }
    if (!def) return undefined;
    if (i === path.length) return def.type === 'object' ? Object.keys(def.shape as object) : undefined;
    const key = path[i]!;
    if (def.type === 'array' && typeof key === 'number') {
      s = def.element;
      value = Array.isArray(value) ? value[key] : undefined;
    } else if (def.type === 'object' && typeof key === 'string') {
      s = (def.shape as Record<string, unknown>)[key];
      value = isObj(value) ? value[key] : undefined;
      if (!s) return undefined;
    } else return undefined;
  }
}

/** Levenshtein distance, small strings only. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

/** The known key a typo most likely meant, if one is close enough. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase().replace(/-/g, '_');
  let best: { key: string; d: number } | undefined;
  for (const candidate of known) {
    const d = distance(k, candidate.toLowerCase());
    if (!best || d < best.d) best = { key: candidate, d };
  }
  if (!best) return undefined;
  // A shortened or lengthened name ("ca" for "ca_file", "subject" for "subjects").
  const extended = known.find((c) => k.length >= 2 && (c.startsWith(`${k}_`) || c === `${k}s`));
  if (extended && best.d > 1) return extended;
  // Close in spelling, or the same words in another form (e.g. "failureThreshold").
  const sameWords = best.key.replace(/_/g, '') === k.replace(/_/g, '');
  return sameWords || best.d <= Math.max(2, Math.floor(best.key.length / 4)) ? best.key : undefined;
}
