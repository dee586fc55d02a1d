import fs from 'node:fs';
import { parseDocument } from 'yaml';
import { validateConfig, type Config } from './domain/config';
import { InvalidInputError } from './domain/validation';

/** Reads and validates a YAML config file; throws InvalidInputError naming the file and every bad field. */
export function loadConfigFile(file: string): Config {
  return readConfigFile(file).config;
}

/** The file's document as written (what the live config stores and diffs) and the validated config. */
export function readConfigFile(file: string): { raw: unknown; config: Config } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`config ${file}`, [`cannot read file: ${(err as Error).message}`]);
  }
  return parseConfigDocument(text, file);
}

export function parseConfigText(text: string, source = 'config'): Config {
  return parseConfigDocument(text, source).config;
}

export function parseConfigDocument(text: string, source = 'config'): { raw: unknown; config: Config } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(`config ${source}`, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  const raw = doc.toJS();
  return { raw, config: validateConfig(raw, `config ${source}`) };
}
