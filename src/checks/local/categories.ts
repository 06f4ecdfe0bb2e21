/**
 * The checks of the local platform, declared as data: what `meshctl check` verifies, the hint for
 * each failure, which failures are fatal or only warnings, and which may be retried with --wait.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { CheckFailure, type CheckCategory } from '../types.js';
import { rootCaCheckers } from '../root-ca.js';
import type { LocalPlatform } from '../../cluster/index.js';
import { isDiverged, type ConfigHashes } from '../../protocol/stream/sync-status.js';

/** What the local checks need. */
export interface LocalCheckContext {
  platform: LocalPlatform;
  home: string;
  cliVersion: string;
  now: () => Date;
  nodeVersion: string;
}

interface DebugInfo {
  version: string;
  pid: number;
  proxies: number;
  workloads: number;
  configs: number;
}
interface SyncView {
  proxy: { id: string; workload: string; namespace: string; proxyVersion: string };
  certificateExpiry?: string;
  types: Record<string, { status: string; lastNack?: { message: string } }>;
}

/** Prerequisites of `meshctl install --local` (`meshctl check --pre`). */
export function localPreChecks(): CheckCategory<LocalCheckContext>[] {
  return [
    {
      id: 'prerequisites',
      checkers: [
        {
          description: 'Node.js is 22.12 or newer',
          hint: 'run meshctl with Node.js 24 (npm ci installs it under node_modules/.bin)',
          fatal: true,
          async run(ctx) {
            const [major, minor] = ctx.nodeVersion.split('.').map(Number) as [number, number];
            if (major < 22 || (major === 22 && minor < 12))
              throw new CheckFailure(`Node.js ${ctx.nodeVersion} is too old`);
            return `node ${ctx.nodeVersion}`;
          },
        },
        {
          description: 'the mesh home is writable',
          hint: 'set MESHCTL_HOME to a directory you can write, or fix its permissions',
          fatal: true,
          async run(ctx) {
            try {
              mkdirSync(ctx.home, { recursive: true, mode: 0o700 });
              accessSync(ctx.home, constants.W_OK);
            } catch (err) {
              throw new CheckFailure(`${ctx.home}: ${(err as Error).message}`);
            }
            return ctx.home;
          },
        },
      ],
    },
  ];
}

/** The health of an installed local mesh (`meshctl check`, and `--proxy` for the data plane). */
export function localChecks(opts: { proxies: boolean }): CheckCategory<LocalCheckContext>[] {
  const categories: CheckCategory<LocalCheckContext>[] = [
    {
      id: 'control-plane',
      checkers: [
        {
          description: 'the control plane is running and ready',
          hint: "start it with 'meshctl install --local'; its log is under $MESHCTL_HOME",
          fatal: true,
          retryDeadlineMs: 60_000,
          async run(ctx) {
            await ctx.platform.controlPlaneGet('/ready');
            const info = await ctx.platform.controlPlaneGet<DebugInfo>('/debug/info');
            return `pid ${info.pid}`;
          },
        },
        {
          description: 'the control plane version matches the CLI',
          hint: "restart it with this meshctl: 'meshctl uninstall --local && meshctl install --local'",
          warning: true,
          async run(ctx) {
            const info = await ctx.platform.controlPlaneGet<DebugInfo>('/debug/info');
            if (info.version !== ctx.cliVersion)
              throw new CheckFailure(`control plane ${info.version}, CLI ${ctx.cliVersion}`);
            return info.version;
          },
        },
      ],
    },
    {
      id: 'identity',
      checkers: rootCaCheckers<LocalCheckContext>({
        invalid:
          "the CA under $MESHCTL_HOME is damaged: 'meshctl uninstall --local --purge' and install again (proxies get new certificates)",
        expiring: "rotate the root CA before it expires, with no failed request: 'meshctl ca rotate'",
      }),
    },
  ];
  categories.push(configCategory(), workloadCategory());
  if (opts.proxies) categories.push(proxyCategory());
  return categories;
}

function configCategory(): CheckCategory<LocalCheckContext> {
  return {
    id: 'config',
    checkers: [
      {
        description: 'the config store is readable and every stored object is valid',
        hint: 'fix or delete the files named above; the control plane skips them (see its log)',
        // The daemon leaves invalid stored files out of what it serves, so they are checked on disk.
        async run(ctx) {
          const { readdir, readFile } = await import('node:fs/promises');
          const { join } = await import('node:path');
          const { manifestObjects, parseDocuments, validateResource } = await import('../../config/index.js');
          const files: string[] = [];
          const walk = async (dir: string): Promise<void> => {
            let entries;
            try {
              entries = await readdir(dir, { withFileTypes: true });
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
              throw new CheckFailure(`${dir}: ${(err as Error).message}`);
            }
            for (const e of entries) {
              if (e.isDirectory()) await walk(join(dir, e.name));
              else if (e.name.endsWith('.yaml')) files.push(join(dir, e.name));
            }
          };
          await walk(ctx.platform.layout.storeDir);
          const problems: string[] = [];
          for (const file of files.sort()) {
            try {
              for (const o of manifestObjects(parseDocuments(await readFile(file, 'utf8'), file))) {
                for (const e of validateResource(o).errors)
                  problems.push(
                    `${file}${e.position ? `:${e.position.line}` : ''}: ${e.field ? `${e.field}: ` : ''}${e.message}`,
                  );
              }
            } catch (err) {
              problems.push((err as Error).message);
            }
          }
          if (problems.length) throw new CheckFailure(problems.join('\n'));
          return `${files.length} objects`;
        },
      },
    ],
  };
}

const DAY = 86_400_000;

/**
 * Checked on every `meshctl check` (not only with --proxy): a registered workload without a
 * connected proxy serves stale config at best (a control plane restarted elsewhere, a crashed
 * sidecar), and a workload certificate close to expiry is the outage of tomorrow.
 */
function workloadCategory(): CheckCategory<LocalCheckContext> {
  return {
    id: 'workloads',
    checkers: [
      {
        description: 'every registered workload has a connected proxy',
        hint: "restart the workload with 'meshctl run'; its proxy log says why it cannot connect",
        retryDeadlineMs: 60_000,
        async run(ctx) {
          const workloads = await ctx.platform.listWorkloads();
          const { proxies } = await ctx.platform.controlPlaneGet<{ proxies: SyncView[] }>('/debug/syncz');
          const connected = new Set(proxies.map((p) => `${p.proxy.workload}.${p.proxy.namespace}`));
          const missing = workloads
            .filter((w) => !connected.has(`${w.name}.${w.namespace}`))
            .map((w) => `${w.name}.${w.namespace}`);
          if (missing.length) throw new CheckFailure(`no proxy connected for: ${missing.join(', ')}`);
          return `${proxies.length} proxies`;
        },
      },
      {
        description: 'no workload certificate is close to expiry (within 30 days, or past its renewal point)',
        hint: 'certificates renew at half-life: one this close to expiry is not renewing; see the proxy log (renewal errors) and the CA',
        warning: true,
        async run(ctx) {
          const now = ctx.now().getTime();
          const problems: string[] = [];
          for (const w of (await ctx.platform.listWorkloads()).filter((x) => x.adminPort)) {
            // The certificate in force now (the stream's was the one it connected with).
            const certs = await ctx.platform
              .proxyAdminGet<{ identity?: { validFrom?: string; validTo?: string } | null }>(w, '/certs')
              .catch(() => undefined);
            const from = Date.parse(certs?.identity?.validFrom ?? '');
            const to = Date.parse(certs?.identity?.validTo ?? '');
            if (!Number.isFinite(from) || !Number.isFinite(to)) continue;
            // 24h certificates always expire "within 30 days": for them what matters is that they renew.
            if (to - now < Math.min(30 * DAY, 0.4 * (to - from)))
              problems.push(`${w.name}.${w.namespace} expires ${new Date(to).toISOString()}`);
          }
          if (problems.length) throw new CheckFailure(problems.join('\n'));
        },
      },
    ],
  };
}

function proxyCategory(): CheckCategory<LocalCheckContext> {
  return {
    id: 'data-plane',
    checkers: [
      {
        description: 'every proxy runs the latest config (no NACK, nothing stale)',
        hint: "see 'meshctl proxy-status' for the proxy and type; a NACK names what the proxy rejected",
        retryDeadlineMs: 30_000,
        async run(ctx) {
          const { proxies } = await ctx.platform.controlPlaneGet<{ proxies: SyncView[] }>('/debug/syncz');
          const problems: string[] = [];
          const withAdmin = new Set(
            (await ctx.platform.listWorkloads()).filter((w) => w.adminPort).map((w) => `${w.name}.${w.namespace}`),
          );
          for (const p of proxies) {
            for (const [type, s] of Object.entries(p.types)) {
              if (s.status === 'NACKED')
                problems.push(`${p.proxy.id} rejected ${type}: ${s.lastNack?.message ?? 'no reason given'}`);
              else if (s.status !== 'SYNCED') problems.push(`${p.proxy.id} ${type} is ${s.status}`);
            }
            if (!withAdmin.has(`${p.proxy.workload}.${p.proxy.namespace}`)) continue;
            const target = { name: p.proxy.workload, namespace: p.proxy.namespace };
            const hash = await ctx.platform.proxyAdminGet<ConfigHashes>(target, '/config_hash').catch(() => undefined);
            if (isDiverged(hash))
              problems.push(
                `${p.proxy.id} is DIVERGED: it runs a config the control plane did not send (changed through its admin API)`,
              );
          }
          if (problems.length) throw new CheckFailure(problems.join('\n'));
        },
      },
      {
        description: 'proxy certificates are valid',
        hint: "a proxy with an expired certificate cannot reach the CA: restart it with 'meshctl run'",
        async run(ctx) {
          const { proxies } = await ctx.platform.controlPlaneGet<{ proxies: SyncView[] }>('/debug/syncz');
          const now = ctx.now().getTime();
          const expired = proxies
            .filter((p) => p.certificateExpiry && Date.parse(p.certificateExpiry) < now)
            .map((p) => `${p.proxy.id} (expired ${p.certificateExpiry})`);
          if (expired.length) throw new CheckFailure(`expired: ${expired.join(', ')}`);
        },
      },
      {
        description: 'proxies run the CLI version',
        hint: "restart older workloads with this meshctl's 'meshctl run'",
        warning: true,
        async run(ctx) {
          const { proxies } = await ctx.platform.controlPlaneGet<{ proxies: SyncView[] }>('/debug/syncz');
          const old = proxies
            .filter((p) => p.proxy.proxyVersion !== ctx.cliVersion)
            .map((p) => `${p.proxy.id} (${p.proxy.proxyVersion})`);
          if (old.length) throw new CheckFailure(`older proxies: ${old.join(', ')}`);
        },
      },
    ],
  };
}
