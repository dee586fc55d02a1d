import fs from 'node:fs';
import { parseDocument } from 'yaml';
import { validateConfig, type Config } from './domain/config';
import { InvalidInputError } from './domain/validation';

/** Reads and validates a YAML config file; throws InvalidInputError naming the file and every bad field. */
export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`config ${file}`, [`cannot read file: ${(err as Error).message}`]);
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(`config ${source}`, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  return validateConfig(doc.toJS(), `config ${source}`);
}
