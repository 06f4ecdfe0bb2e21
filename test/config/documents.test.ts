import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { formatFieldPath, manifestObjects, parseDocuments } from '../../src/config/documents.js';
import { readSources } from '../../src/config/sources.js';
import { InputParseError } from '../../src/errors.js';

describe('parseDocuments', () => {
  it('parses multi-document YAML and locates fields by path', () => {
    const text =
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\nkind: VirtualService\nspec:\n  http:\n  - route:\n    - weight: ten\n';
    const docs = parseDocuments(text, 'vs.yaml');
    expect(docs).toHaveLength(2);
    expect(docs[1]!.positionOf(['spec', 'http', 0, 'route', 0, 'weight'])).toEqual({
      file: 'vs.yaml',
      line: 10,
      column: 15,
    });
    // a missing field falls back to its nearest existing ancestor
    expect(docs[1]!.positionOf(['spec', 'http', 0, 'timeout'])).toEqual({ file: 'vs.yaml', line: 9, column: 5 });
  });

  it('reports syntax errors with file:line:column', () => {
    let err: unknown;
    try {
      parseDocuments('kind: Pod\nmetadata:\n  name: [unclosed\n', 'bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputParseError);
    expect((err as Error).message).toMatch(/^bad\.yaml:\d+:\d+: invalid YAML: /);
  });

  it('reports invalid JSON as JSON', () => {
    expect(() => parseDocuments('{"kind": "Pod",, }', 'x.json')).toThrow(/^x\.json:1:\d+: invalid JSON/);
  });

  it('rejects duplicate keys, which kubectl would silently collapse', () => {
    expect(() => parseDocuments('kind: Pod\nkind: Service\n', 'dup.yaml')).toThrow(/dup\.yaml:2:1/);
  });

  it('expands List items in order and keeps their paths', () => {
    const docs = parseDocuments('{"kind":"List","items":[{"kind":"Service"},{"kind":"Pod"}]}', 'l.json');
    expect(docs[0]!.format).toBe('json');
    const objs = manifestObjects(docs);
    expect(objs.map((o) => [o.object.kind, formatFieldPath(o.path)])).toEqual([
      ['Service', 'items[0]'],
      ['Pod', 'items[1]'],
    ]);
  });
});

describe('readSources', () => {
  it('reads files, directories recursively in sorted order, and stdin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-src-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'b.yaml'), 'kind: B\n');
    await writeFile(join(dir, 'a.json'), '{"kind":"A"}');
    await writeFile(join(dir, 'sub', 'c.yml'), 'kind: C\n');
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    const got = await readSources([dir, '-'], { stdin: Readable.from([Buffer.from('kind: D\n')]), cwd: '/' });
    expect(got.map((s) => s.text.trim())).toEqual(['{"kind":"A"}', 'kind: B', 'kind: C', 'kind: D']);
    expect(got[3]!.name).toBe('<stdin>');
  });

  it('refuses non-https URLs and names missing paths', async () => {
    const io = { stdin: Readable.from([]), cwd: '/' };
    await expect(readSources(['http://example.com/a.yaml'], io)).rejects.toThrow(/only https:\/\/ URLs are accepted/);
    await expect(readSources(['ftp://x/y'], io)).rejects.toThrow(/only https/);
    await expect(readSources(['/nonexistent/app.yaml'], io)).rejects.toThrow(
      /\/nonexistent\/app\.yaml: no such file or directory/,
    );
  });
});
