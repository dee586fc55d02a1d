/**
 * A conservative check for regular expressions that can backtrack catastrophically in a
 * backtracking engine such as V8's: a repeated group that itself contains a repetition
 * (`(a+)+`, `(a*b?)*`, `(.*,)*`), a repeated group whose alternatives can match the same text
 * (`(a|a)*`, `(\w|\d)+`), and backreferences. Such patterns take exponential time on a crafted
 * label value; they are refused when the config is read. What passes is at worst polynomial,
 * and the inputs it runs on are bounded.
 */

const MAX_PATTERN = 1000;

interface Group {
  /** Some element inside repeats without bound (*, +, {n,}) or a group inside is itself unsafe to repeat. */
  repeats: boolean;
  /** Alternatives of this group, as source text, for the overlap check. */
  alternatives: string[];
  start: number;
  branchStart: number;
}

/** What is wrong with `source`, or undefined when it is safe to run on untrusted input. */
export function regexBacktrackingProblem(source: string): string | undefined {
  if (source.length > MAX_PATTERN) return `expected a pattern of at most ${MAX_PATTERN} characters`;
  const stack: Group[] = [{ repeats: false, alternatives: [], start: 0, branchStart: 0 }];
  // What the last atom was: a group (and what it held) or a plain atom; quantifiers apply to it.
  let last: { group?: Group; groupSource?: string } | undefined;
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'expected no backreference (\\1, \\k<name>): it can take exponential time';
      last = {};
      i += 2;
      continue;
    }
    if (c === '[') {
      // A character class is one atom; skip to its closing bracket.
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      last = {};
      i = j + 1;
      continue;
    }
    if (c === '(') {
      stack.push({ repeats: false, alternatives: [], start: i, branchStart: i + 1 + lookaheadPrefix(source, i) });
      last = undefined;
      i += 1 + lookaheadPrefix(source, i);
      continue;
    }
    if (c === '|') {
      const g = stack[stack.length - 1]!;
      g.alternatives.push(source.slice(g.branchStart, i));
      g.branchStart = i + 1;
      last = undefined;
      i++;
      continue;
    }
    if (c === ')') {
      const g = stack.pop();
      if (!g || stack.length === 0) return 'expected balanced parentheses';
      g.alternatives.push(source.slice(g.branchStart, i));
      last = { group: g, groupSource: source.slice(g.start, i + 1) };
      i++;
      continue;
    }
    const q = quantifierAt(source, i);
    if (q) {
      const parent = stack[stack.length - 1]!;
      if (q.unbounded && last?.group) {
        const g = last.group;
        if (g.repeats) return `expected no nested repetition such as (a+)+: ${last.groupSource}${q.text} can take exponential time`;
        if (g.alternatives.length > 1 && alternativesOverlap(g.alternatives)) {
          return `expected the alternatives of a repeated group to start differently: ${last.groupSource}${q.text} can take exponential time`;
        }
      }
      if (q.unbounded || last?.group?.repeats) parent.repeats = true;
      i += q.text.length;
      // A lazy or possessive-looking suffix belongs to the quantifier.
      if (source[i] === '?') i++;
      last = undefined;
      continue;
    }
    last = {};
    i++;
  }
  if (stack.length !== 1) return 'expected balanced parentheses';
  return undefined;
}

/** Length of `?:`, `?=`, `?!`, `?<=`, `?<!`, `?<name>` after an opening parenthesis. */
function lookaheadPrefix(source: string, open: number): number {
  if (source[open + 1] !== '?') return 0;
  const m = /^\?(?::|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(source.slice(open + 1));
  return m ? m[0].length : 1;
}

function quantifierAt(source: string, i: number): { text: string; unbounded: boolean } | undefined {
  const c = source[i]!;
  if (c === '*' || c === '+') return { text: c, unbounded: true };
  if (c === '?') return { text: c, unbounded: false };
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
    if (!m) return undefined;
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
    // A large fixed count repeats like an unbounded one for backtracking purposes.
    return { text: m[0], unbounded: max > 10 };
  }
  return undefined;
}

/**
 * Whether two alternatives may match the same first character: both literal and starting with the
 * same character, or either starting with something broader than a literal (a class, ".", an escape, a group).
 */
function alternativesOverlap(alternatives: string[]): boolean {
  const firsts: string[] = [];
  for (const alt of alternatives) {
    const c = alt[0];
    if (c === undefined) return true; // an empty alternative matches what any other does, nothing
    if (/[\\.[(^$]/.test(c)) return true;
    if (firsts.includes(c.toLowerCase())) return true;
    firsts.push(c.toLowerCase());
  }
  return false;
}
