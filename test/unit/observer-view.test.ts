import { describe, expect, it } from 'vitest';
import { ObserverView } from '../../src/activities/watch';

describe('an observer judging its own network', () => {
  it('is isolated when most destinations it probes fail, and not once they answer again', () => {
    const view = new ObserverView();
    view.note('tcp:a:1', false, 1000);
    view.note('tcp:b:1', false, 1000);
    expect(view.isolated(1000)).toBe(false); // two cannot tell a partition from an outage
    view.note('tcp:c:1', true, 1000);
    expect(view.isolated(1000)).toBe(true);
    view.note('tcp:a:1', true, 2000);
    expect(view.isolated(2000)).toBe(false);
    view.note('tcp:a:1', false, 3000);
    view.note('tcp:a:1', false, 3100); // the same destination failing again counts once
    expect(view.isolated(3100)).toBe(true);
  });

  it('forgets destinations it has not probed for 30 s', () => {
    const view = new ObserverView();
    for (const k of ['a', 'b', 'c']) view.note(k, false, 0);
    view.note('d', true, 0);
    expect(view.isolated(0)).toBe(true);
    // Only d is probed any more: the failures of a, b and c are too old to say anything.
    for (const k of ['d', 'e', 'f']) view.note(k, true, 40_000);
    expect(view.isolated(40_000)).toBe(false);
    view.note('g', false, 40_000);
    view.note('h', false, 40_000);
    view.note('i', false, 40_000);
    view.note('j', false, 40_000);
    expect(view.isolated(40_500)).toBe(true);
  });
});
