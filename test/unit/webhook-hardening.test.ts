import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/domain/config';
import { InvalidInputError } from '../../src/domain/validation';
import { RateLimiter } from '../../src/triggers/rate-limit';
import { ReplayGuard } from '../../src/triggers/replay-guard';

const service = {
  name: 'bus',
  router: { type: 'file', path: '/tmp/r.json' },
  destinations: [{ id: 'a', zone: 'z', region: 'r', probe: { type: 'tcp', host: 'h', port: 1 } }],
};
function problemsOf(data: unknown): string[] {
  try {
    validateConfig(data);
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems;
    throw err;
  }
  return [];
}

describe('regular expressions from config', () => {
  it('refuses route regexes that backtrack catastrophically, naming the field', () => {
    const route = (regex: string) => ({
      services: [service],
      alerting: { receiver: { token_env: 'T' }, routes: [{ match: { instance: { regex } }, service: 'bus', means: 'down' }] },
    });
    expect(problemsOf(route('(a+)+$'))).toEqual([
      expect.stringMatching(
        /^alerting\.routes\[0\]\.match\.instance\.regex: expected no nested repetition such as \(a\+\)\+: \(a\+\)\+ can take exponential time/,
      ),
    ]);
    expect(problemsOf(route('(a|a)*'))).toEqual([
      expect.stringMatching(/^alerting\.routes\[0\]\.match\.instance\.regex: expected the alternatives of a repeated group to start differently/),
    ]);
    expect(problemsOf(route('(x)\\1'))).toEqual([expect.stringMatching(/expected no backreference/)]);
    expect(problemsOf(route('Redis(Down|Unreachable)'))).toEqual([]);
    expect(problemsOf(route('eu-(west|east)-[0-9]+'))).toEqual([]);
  });

  it('refuses a probe body regex that backtracks catastrophically', () => {
    const probe = { type: 'http', url: 'http://h/x', expect_body_regex: '^(\\w+\\s?)*$' };
    const cfg = { services: [{ ...service, destinations: [{ ...service.destinations[0], probe }] }] };
    expect(problemsOf(cfg)).toEqual([expect.stringMatching(/^services\[0\]\.destinations\[0\]\.probe\.expect_body_regex: expected no nested repetition/)]);
  });
});

describe('replay guard', () => {
  it('refuses a signature seen inside the window, forgets it after, and lets a released one through', () => {
    let now = 1_000_000;
    const g = new ReplayGuard(300_000, 3, () => now);
    expect(g.reserve('s1', now)).toBe('ok');
    expect(g.reserve('s1', now)).toBe('replay');
    g.release('s1');
    expect(g.reserve('s1', now)).toBe('ok');
    now += 302_000;
    expect(g.reserve('s1', now - 302_000)).toBe('ok');
  });

  it('is bounded: full of live signatures, it refuses rather than forgetting one', () => {
    let now = 0;
    const g = new ReplayGuard(60_000, 2, () => now);
    expect([g.reserve('a', 0), g.reserve('b', 0), g.reserve('c', 0)]).toEqual(['ok', 'ok', 'full']);
    expect(g.reserve('a', 0)).toBe('replay');
    now = 62_000;
    expect(g.reserve('c', 61_000)).toBe('ok');
    expect(g.size).toBe(1);
  });
});

describe('rate limiter', () => {
  it('allows the burst, then the rate, per source', () => {
    let now = 0;
    const r = new RateLimiter(2, 3, 100, () => now);
    expect([1, 2, 3, 4].map(() => r.take('10.0.0.1').ok)).toEqual([true, true, true, false]);
    expect(r.take('10.0.0.1')).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(r.take('10.0.0.2').ok).toBe(true);
    now = 500;
    expect([r.take('10.0.0.1').ok, r.take('10.0.0.1').ok]).toEqual([true, false]);
  });
});
