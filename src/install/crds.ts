/** The mesh's CRDs as checked in under templates/crds/ (generated from src/config by the config schemas). */
import { readdir, readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './manifests.js';

const CRD_DIR = new URL('../../templates/crds/', import.meta.url);

/** Every CRD under templates/crds/, sorted by file name. Missing directory: none (nothing to apply). */
export async function loadCrds(): Promise<KubeObject[]> {
  let files: string[];
  try {
    files = (await readdir(CRD_DIR)).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    return [];
  }
  const out: KubeObject[] = [];
  for (const f of files) {
    const text = await readFile(new URL(f, CRD_DIR), 'utf8');
    for (const doc of parseAllDocuments(text) as ReturnType<typeof parseAllDocuments> & unknown[]) {
      const o = doc.toJS() as KubeObject | null;
      if (o && o.kind === 'CustomResourceDefinition') out.push(o);
    }
  }
  return out;
}
