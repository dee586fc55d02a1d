import { expect } from 'vitest';
import { parseConfigText } from '../../src/config-file';
import { InvalidInputError } from '../../src/domain/validation';

/** The problem lines a config text is rejected with; fails the test if it is accepted. */
export function configProblems(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems;
  }
  throw new Error('expected the config to be rejected');
}
