/**
 * Reading the inputs named by `-f`: files, directories (recursive, .yaml/.yml/.json, in a stable
 * order), `-` for standard input, and https URLs. Anything else is refused: plain http would let a
 * network attacker rewrite the manifests a user is about to apply.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { InputFetchError, InputNotFoundError, InputSchemeError } from '../errors.js';

/** The text of one input and the name errors should use for it. */
export interface SourceText {
  readonly name: string;
  readonly text: string;
}

/** What reading sources needs from the outside world. */
export interface SourceIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly cwd: string;
}

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;
const FETCH_TIMEOUT_MS = 30_000;

/** Reads every `-f` spec in order; a directory contributes its manifests sorted by path. */
export async function readSources(specs: readonly string[], io: SourceIo): Promise<SourceText[]> {
  const out: SourceText[] = [];
  for (const spec of specs) {
    if (spec === '-') out.push({ name: '<stdin>', text: await readStream(io.stdin) });
    else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) out.push(await fetchHttps(spec));
    else out.push(...(await readPath(spec, io.cwd)));
  }
  return out;
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function fetchHttps(url: string): Promise<SourceText> {
  if (!/^https:\/\//i.test(url)) throw new InputSchemeError(url);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'follow' });
  } catch (err) {
    throw new InputFetchError(url, `cannot fetch: ${(err as Error).message}`);
  }
  if (!res.ok) throw new InputFetchError(url, `server answered ${res.status} ${res.statusText}`);
  if (!/^https:/i.test(res.url)) throw new InputSchemeError(res.url);
  return { name: url, text: await res.text() };
}

async function readPath(spec: string, cwd: string): Promise<SourceText[]> {
  const full = isAbsolute(spec) ? spec : resolve(cwd, spec);
  let info;
  try {
    info = await stat(full);
  } catch {
    throw new InputNotFoundError(spec, 'no such file or directory');
  }
  if (info.isFile()) return [{ name: spec, text: await readFile(full, 'utf8') }];
  if (!info.isDirectory()) throw new InputNotFoundError(spec, 'not a file or directory');
  const files = await walk(full, spec);
  if (files.length === 0) throw new InputNotFoundError(spec, 'directory holds no .yaml, .yml or .json files');
  return Promise.all(files.map(async ({ abs, shown }) => ({ name: shown, text: await readFile(abs, 'utf8') })));
}

async function walk(dir: string, shown: string): Promise<{ abs: string; shown: string }[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const out: { abs: string; shown: string }[] = [];
  for (const e of entries) {
    const abs = join(dir, e.name);
    const name = join(shown, e.name);
    if (e.isDirectory()) out.push(...(await walk(abs, name)));
    else if (e.isFile() && MANIFEST_EXTENSIONS.test(e.name)) out.push({ abs, shown: name });
  }
  return out;
}
