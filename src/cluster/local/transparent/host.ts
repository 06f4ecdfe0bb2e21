/**
 * What `meshctl run --transparent` needs from the machine (Linux, root, iproute2, iptables,
 * setpriv) and who the app runs as. Each missing piece is a CaptureError naming it and the fix,
 * checked before anything is created.
 */
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { CaptureError, UsageError } from '../../../errors.js';

/** The proxy's UID/GID: iptables lets its traffic out uncaptured, so the app must never use it. */
export const PROXY_UID = 1337;

/** Throws CaptureError for the first requirement the machine does not meet (`env`: where to look for the tools, PATH). */
export async function assertTransparentHost(
  platform: NodeJS.Platform = process.platform,
  uid: number | undefined = process.getuid?.(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const works = async (cmd: string, args: string[]): Promise<boolean> => {
    const r = await execa(cmd, args, { reject: false, stdin: 'ignore', timeout: 10_000, env, extendEnv: false });
    return r.exitCode === 0;
  };
  if (platform !== 'linux') {
    throw new CaptureError(
      `meshctl run --transparent needs Linux network namespaces and iptables (this is ${platform})`,
      'run without --transparent: the app reaches the mesh through HTTP_PROXY',
    );
  }
  if (uid !== 0) {
    throw new CaptureError(
      'meshctl run --transparent must run as root (it creates a network namespace, a veth pair and iptables rules)',
      'run it with sudo; the app itself still runs as you (SUDO_UID) or as --user',
    );
  }
  if (!(await works('ip', ['netns', 'list'])))
    throw new CaptureError(
      'iproute2 (`ip netns`) is missing or cannot list network namespaces',
      'install it: apt-get install -y iproute2',
    );
  if (!(await works('iptables', ['--version'])))
    throw new CaptureError(
      'iptables is missing (proxy init writes the capture rules with it)',
      'install it: apt-get install -y iptables',
    );
  if (!(await works('setpriv', ['--version'])))
    throw new CaptureError(
      'setpriv is missing (it starts the sidecar as UID 1337 and the app as its user)',
      'install it: apt-get install -y util-linux',
    );
}

/** Who the app runs as. */
export interface AppUser {
  uid: number;
  gid: number;
  /** How the user was given, for messages. */
  label: string;
}

/** Checks the form of `--user` before any I/O: NAME, UID, NAME:GROUP or UID:GID. */
export function checkUserFlag(user: string | undefined): void {
  if (user === undefined) return;
  if (!/^[A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)?$/.test(user))
    throw new UsageError(
      `--user ${user}: not a user`,
      'give a name or a UID, optionally with :GROUP or :GID, e.g. --user nobody or --user 1000:1000',
    );
  const [u, g] = user.split(':');
  if (Number(u) === PROXY_UID || Number(g) === PROXY_UID || u === 'meshproxy')
    throw new UsageError(
      `--user ${user}: UID/GID ${PROXY_UID} is the sidecar's`,
      'run the app as another user: the capture rules let UID 1337 bypass the sidecar',
    );
}

async function idOf(flag: '-u' | '-g', name: string): Promise<number> {
  const r = await execa('id', [flag, name], { reject: false, stdin: 'ignore' });
  const n = Number(String(r.stdout).trim());
  if (r.exitCode !== 0 || !Number.isInteger(n))
    throw new UsageError(`--user: no such user ${name}`, 'give an existing user (see getent passwd) or a numeric UID');
  return n;
}

async function groupId(name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const r = await execa('getent', ['group', name], { reject: false, stdin: 'ignore' });
  const gid = Number(String(r.stdout).split(':')[2]);
  if (r.exitCode !== 0 || !Number.isInteger(gid))
    throw new UsageError(`--user: no such group ${name}`, 'give an existing group or a numeric GID');
  return gid;
}

/** The app's user: --user, else the user who ran sudo (SUDO_UID/SUDO_GID), else nobody. */
export async function resolveAppUser(user: string | undefined, env: NodeJS.ProcessEnv): Promise<AppUser> {
  let resolved: AppUser;
  if (user !== undefined) {
    const [u, g] = user.split(':') as [string, string | undefined];
    const uid = /^\d+$/.test(u) ? Number(u) : await idOf('-u', u);
    const gid = g !== undefined ? await groupId(g) : /^\d+$/.test(u) ? uid : await idOf('-g', u);
    resolved = { uid, gid, label: `--user ${user}` };
  } else if (env.SUDO_UID && /^\d+$/.test(env.SUDO_UID) && Number(env.SUDO_UID) !== 0) {
    const uid = Number(env.SUDO_UID);
    resolved = {
      uid,
      gid: /^\d+$/.test(env.SUDO_GID ?? '') ? Number(env.SUDO_GID) : uid,
      label: `the sudo user (${env.SUDO_USER ?? env.SUDO_UID})`,
    };
  } else {
    resolved = { uid: await idOf('-u', 'nobody'), gid: await idOf('-g', 'nobody'), label: 'nobody' };
  }
  if (resolved.uid === PROXY_UID || resolved.gid === PROXY_UID)
    throw new UsageError(
      `the app would run as UID/GID ${PROXY_UID} (${resolved.label}), the sidecar's`,
      'pass --user with another user',
    );
  return resolved;
}

/**
 * The mesh home: $MESHCTL_HOME, else, under sudo, the invoking user's ~/.meshctl when it exists
 * (where `meshctl install --local` put it, not root's), else the default.
 */
export async function transparentMeshHome(env: NodeJS.ProcessEnv, fallback: string): Promise<string> {
  if (env.MESHCTL_HOME || !env.SUDO_USER || env.SUDO_UID === '0') return fallback;
  const r = await execa('getent', ['passwd', env.SUDO_USER], { reject: false, stdin: 'ignore' });
  const dir = String(r.stdout).split(':')[5];
  if (r.exitCode !== 0 || !dir) return fallback;
  const home = `${dir}/.meshctl`;
  return existsSync(home) ? home : fallback;
}
