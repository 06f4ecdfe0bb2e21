/**
 * The node agent's "registry": container images map to local commands. This is the one place that says
 * what an image runs. An image that is not here cannot be "pulled" (the pod shows ErrImagePull).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** What a container of an image runs, as a container runtime would take it from the image config. */
export interface LocalImage {
  /** The image's ENTRYPOINT, as local paths. */
  entrypoint: string[];
  /** The image's CMD (default arguments). */
  cmd: string[];
  /** The image's WORKDIR. */
  workingDir: string;
  /** The image's USER (uid). */
  user: number;
  env: Record<string, string>;
  /** Rewrites an in-image path or program name from the pod spec (`command`, `args`) to a local one. */
  translate: (word: string) => string;
}

/** Image reference without registry defaults, tag or digest: `ghcr.io/meshctl/meshctl:1.2` -> `ghcr.io/meshctl/meshctl`. */
export function imageRepository(image: string): string {
  let ref = image.split('@')[0] ?? image;
  const lastSlash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > lastSlash) ref = ref.slice(0, colon);
  return ref.replace(/^docker\.io\//, '').replace(/^library\//, '');
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The table, for a checkout (bin/meshctl, the pinned node, the test images under test/test-cluster/images). */
export function imageTable(checkoutDir: string): Map<string, LocalImage> {
  const pinnedNodePath = join(checkoutDir, 'node_modules', 'node', 'bin', 'node');
  const node = existsSync(pinnedNodePath) ? pinnedNodePath : process.execPath;
  const testImage = (file: string): LocalImage => ({
    entrypoint: [node, join(checkoutDir, 'test', 'test-cluster', 'images', file)],
    cmd: [],
    workingDir: '/',
    user: 0,
    env: { PATH: defaultPath },
    translate: (w) => (w === 'node' ? node : w),
  });
  const meshctl: LocalImage = {
    // As the Dockerfile: ENTRYPOINT ["node", "/opt/meshctl/bin/meshctl"], CMD ["proxy", "run"], USER 1337.
    entrypoint: [node, join(checkoutDir, 'bin', 'meshctl')],
    cmd: ['proxy', 'run'],
    workingDir: checkoutDir,
    user: 1337,
    env: { PATH: defaultPath, NODE_ENV: 'production' },
    translate: (w) => {
      if (w === 'node') return node;
      if (w === 'meshctl') return join(checkoutDir, 'bin', 'meshctl');
      if (w === '/opt/meshctl' || w.startsWith('/opt/meshctl/')) return checkoutDir + w.slice('/opt/meshctl'.length);
      return w;
    },
  };
  return new Map<string, LocalImage>([
    ['ghcr.io/meshctl/meshctl', meshctl],
    ['meshctl-test/echo', testImage('echo-server.ts')],
    ['meshctl-test/client', testImage('client-server.ts')],
    // Runs the pod's `command` with the host's programs (sh, cat, sleep, ...): for init steps and probes in tests.
    [
      'meshctl-test/shell',
      { entrypoint: ['/bin/sh'], cmd: [], workingDir: '/', user: 0, env: { PATH: defaultPath }, translate: (w) => w },
    ],
  ]);
}

/** The argv a container runs, resolved as a runtime does: `command` replaces ENTRYPOINT, `args` replaces CMD. */
export function containerArgv(image: LocalImage, command: string[] | undefined, args: string[] | undefined): string[] {
  if (command && command.length > 0) return [...command.map(image.translate), ...(args ?? []).map(image.translate)];
  return [...image.entrypoint, ...(args ?? image.cmd).map(image.translate)];
}
