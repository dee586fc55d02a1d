import fs from 'node:fs';
import { LineCounter, parseDocument, visit, type YAMLError } from 'yaml';
import { configWarnings, validateConfig, type Config } from './domain/config';
import { InvalidInputError } from './domain/validation';

/** Reads and validates a YAML config file; throws InvalidInputError naming the file and every bad field. */
export function loadConfigFile(file: string): Config {
  return readConfigFile(file).config;
}

export interface ConfigDocument {
  /** The file's document as written: what the live config stores and diffs. */
  raw: unknown;
  /** The validated config, seed keys mapped onto project keys. */
  config: Config;
  /** Keys that are accepted but cannot act here, each with why (print them; never drop them). */
  warnings: string[];
}

/** The file's document as written (what the live config stores and diffs), the validated config and its warnings. */
export function readConfigFile(file: string): ConfigDocument {
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

/** The line at `line` (1-based) and the one before it, with a caret under `col`: enough to find the spot. */
function excerpt(text: string, line: number, col: number): string {
  const lines = text.split('\n');
  const width = String(line).length;
  const out: string[] = [];
  for (let n = Math.max(1, line - 1); n <= line; n++) {
    const content = lines[n - 1];
    if (content === undefined || (n < line && content.trim() === '')) continue;
    out.push(`    ${String(n).padStart(width)} | ${content.length > 120 ? `${content.slice(0, 117)}...` : content}`);
  }
  out.push(`    ${' '.repeat(width)} | ${' '.repeat(Math.max(0, col - 1))}^`);
  return out.join('\n');
}

function yamlProblem(source: string, text: string, e: YAMLError): string {
  // The parser's own message ends with " at line L, column C:" and its excerpt; ours names the file.
  const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const pos = e.linePos?.[0];
  if (!pos) return `${source}: YAML: ${message}`;
  return `${source}:${pos.line}:${pos.col}: YAML: ${message}\n${excerpt(text, pos.line, pos.col)}`;
}

export function parseConfigDocument(text: string, source = 'config'): ConfigDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0)
    throw new InvalidInputError(
      `config ${source}`,
      doc.errors.map((e) => yamlProblem(source, text, e)),
    );
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // An alias whose anchor is not defined before it: name where it is, not a raw ReferenceError.
    const problems: string[] = [];
    visit(doc, {
      Alias(_, node) {
        if (node.resolve(doc)) return;
        const at = node.range ? lineCounter.linePos(node.range[0]) : undefined;
        const what = `YAML: alias *${node.source} has no anchor &${node.source} before it`;
        problems.push(at ? `${source}:${at.line}:${at.col}: ${what}\n${excerpt(text, at.line, at.col)}` : `${source}: ${what}`);
      },
    });
    throw new InvalidInputError(`config ${source}`, problems.length > 0 ? problems : [`${source}: YAML: ${(err as Error).message}`]);
  }
  const config = validateConfig(raw, `config ${source}`);
  return { raw, config, warnings: configWarnings(config) };
}
