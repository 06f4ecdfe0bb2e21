/**
 * The root CA that install and upgrade hand to the Kubernetes platform (RootCaSource): the user's
 * (`--set ca.cert=FILE --set ca.key=FILE`), read and checked before anything reaches the cluster, or
 * a new one made only if the cluster has none. The CA code is the control plane's, which the
 * platform sits below, so the command brings it.
 */
import { readFile } from 'node:fs/promises';
import { CaMaterialInvalidError } from '../errors.js';
import type { CaMaterial, RootCaSource } from '../cluster/index.js';

/** The root CA source of the install values' `ca.cert` / `ca.key` (both empty: generated). */
export async function rootCaSource(ca: { cert?: string; key?: string }): Promise<RootCaSource> {
  const generate = async (): Promise<CaMaterial> => {
    const { createRootCa } = await import('../control-plane/ca/root.js');
    return (await createRootCa()).pem;
  };
  if (!ca.cert || !ca.key) return { generate };
  const read = async (file: string, what: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new CaMaterialInvalidError(
        file,
        `cannot read the CA ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        `check the path given with --set ca.${what === 'certificate' ? 'cert' : 'key'}`,
      );
    }
  };
  const supplied = { certChainPem: await read(ca.cert, 'certificate'), keyPem: await read(ca.key, 'key') };
  // Checked before anything is stored: a CA that cannot sign must not reach the cluster.
  const { signingCaFromPem } = await import('../control-plane/ca/root.js');
  await signingCaFromPem(supplied, `${ca.cert} + ${ca.key}`, 'supplied');
  return { supplied, generate };
}
