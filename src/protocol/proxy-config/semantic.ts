/**
 * The checks of a proxy config that come after its schema: what a schema cannot say. No TypeBox here: the proxy runs
 * these on every config it is sent (validate-lazily.ts).
 */
import { re2 } from '../../config/re2.js';
import { RETRY_ON } from '../../config/retry-on.js';
import { PROXY_CONFIG_API_VERSION } from './constants.js';
import type { ProxyConfig } from './schema.js';
import { subnetProblem } from './subnets.js';

/** The problem with a config's root (not an object, another apiVersion), or undefined. */
export function rootProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return '(root): expected an object with apiVersion, listeners, routes, clusters';
  const apiVersion = (value as { apiVersion?: unknown }).apiVersion;
  if (apiVersion !== PROXY_CONFIG_API_VERSION)
    return `apiVersion: expected "${PROXY_CONFIG_API_VERSION}", got ${JSON.stringify(apiVersion ?? null)}`;
  return undefined;
}

function duplicates(names: readonly string[], path: (i: number) => string, kind: string, errors: string[]): void {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (seen.has(n)) errors.push(`${path(i)}: duplicate ${kind} name "${n}"`);
    seen.add(n);
  });
}

function checkRegex(pattern: string | undefined, path: string, errors: string[]): void {
  if (pattern === undefined) return;
  try {
    re2().compile(pattern);
  } catch (err) {
    errors.push(`${path}.regex: not a valid RE2 regular expression: ${(err as Error).message}`);
  }
}

/**
 * What the schema cannot say: names that must resolve, regexes that must compile under RE2, unique names, one action
 * per route. Each problem with its field path.
 */
export function semanticProblems(cfg: ProxyConfig): string[] {
  const errors: string[] = [];
  const clusters = cfg.clusters ?? [];
  const routes = cfg.routes ?? [];
  duplicates(
    cfg.listeners.map((l) => l.name),
    (i) => `listeners[${i}].name`,
    'listener',
    errors,
  );
  duplicates(
    clusters.map((c) => c.name),
    (i) => `clusters[${i}].name`,
    'cluster',
    errors,
  );
  duplicates(
    routes.map((r) => r.name),
    (i) => `routes[${i}].name`,
    'route config',
    errors,
  );
  const byName = new Map(clusters.map((c) => [c.name, c]));
  const routeNames = new Set(routes.map((r) => r.name));

  const ports = new Map<string, number>();
  cfg.listeners.forEach((l, i) => {
    const key = `${l.address ?? ''}:${l.port}`;
    if (l.port !== 0 && ports.has(key))
      errors.push(`listeners[${i}].port: port ${l.port} is already used by listeners[${ports.get(key)}]`);
    ports.set(key, i);
    l.chains.forEach((c, j) => {
      const p = `listeners[${i}].chains[${j}]`;
      if (c.routeConfig !== undefined && !routeNames.has(c.routeConfig))
        errors.push(`${p}.routeConfig: no route config named "${c.routeConfig}" in routes`);
      if (c.tcpCluster !== undefined && !byName.has(c.tcpCluster))
        errors.push(`${p}.tcpCluster: no cluster named "${c.tcpCluster}" in clusters`);
      if (c.protocol === 'tcp' && c.tcpCluster === undefined)
        errors.push(`${p}.tcpCluster: a tcp chain needs a cluster`);
      if (c.routeConfig === undefined && c.tcpCluster === undefined)
        errors.push(`${p}: a chain needs routeConfig, tcpCluster or both`);
      c.tcpWeightedClusters?.forEach((w, k) => {
        if (!byName.has(w.cluster))
          errors.push(`${p}.tcpWeightedClusters[${k}].cluster: no cluster named "${w.cluster}" in clusters`);
      });
      if (c.tcpWeightedClusters && c.tcpWeightedClusters.every((w) => w.weight === 0))
        errors.push(`${p}.tcpWeightedClusters: at least one weight must be above 0`);
      c.match?.destinationSubnets?.forEach((v, k) => {
        const problem = subnetProblem(v);
        if (problem) errors.push(`${p}.match.destinationSubnets[${k}]: ${problem}`);
      });
    });
  });

  const destination = (d: { cluster: string; subset?: string }, p: string): void => {
    const c = byName.get(d.cluster);
    if (!c) errors.push(`${p}.cluster: no cluster named "${d.cluster}" in clusters`);
    else if (d.subset !== undefined && !(c.subsets ?? []).some((s) => s.name === d.subset)) {
      errors.push(`${p}.subset: cluster "${d.cluster}" has no subset "${d.subset}"`);
    }
  };
  routes.forEach((rc, i) =>
    rc.virtualHosts.forEach((vh, j) =>
      vh.routes.forEach((r, k) => {
        const p = `routes[${i}].virtualHosts[${j}].routes[${k}]`;
        const actions = [r.route, r.redirect, r.directResponse].filter((a) => a !== undefined).length;
        if (actions !== 1)
          errors.push(`${p}: exactly one of route, redirect, directResponse is required (found ${actions})`);
        r.route?.forEach((d, n) => destination(d, `${p}.route[${n}]`));
        if (r.mirror) destination(r.mirror, `${p}.mirror`);
        r.mirrors?.forEach((m, n) => destination(m, `${p}.mirrors[${n}]`));
        const rx = r.rewrite?.uriRegex;
        if (rx) checkRegex(rx.match, `${p}.rewrite.uriRegex.match`, errors);
        if (r.rewrite?.uri !== undefined && rx) errors.push(`${p}.rewrite: uri and uriRegex are exclusive; keep one`);
        if (r.route && r.route.length > 1 && r.route.every((d) => (d.weight ?? 0) === 0))
          errors.push(`${p}.route: at least one weight must be above 0`);
        r.match?.forEach((m, n) => {
          const mp = `${p}.match[${n}]`;
          for (const f of ['uri', 'method', 'authority', 'scheme'] as const)
            checkRegex(m[f]?.regex, `${mp}.${f}`, errors);
          for (const f of ['headers', 'withoutHeaders', 'queryParams'] as const) {
            for (const [name, hm] of Object.entries(m[f] ?? {})) checkRegex(hm.regex, `${mp}.${f}.${name}`, errors);
          }
        });
        if (r.fault?.abort && r.fault.abort.httpStatus === undefined && r.fault.abort.grpcStatus === undefined) {
          errors.push(`${p}.fault.abort: httpStatus or grpcStatus is required`);
        }
        const retryOn = r.retries?.retryOn;
        if (retryOn !== undefined) {
          for (const token of retryOn
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean)) {
            if (!RETRY_ON.has(token) && !/^[1-5][0-9][0-9]$/.test(token))
              errors.push(
                `${p}.retries.retryOn: unknown condition "${token}" (use ${[...RETRY_ON].join(', ')} or a status code)`,
              );
          }
        }
      }),
    ),
  );

  clusters.forEach((c, i) => {
    const p = `clusters[${i}]`;
    if ((c.type ?? 'static') === 'static' && c.loadBalancer?.simple === 'PASSTHROUGH') {
      errors.push(`${p}.loadBalancer.simple: PASSTHROUGH needs type: originalDst`);
    }
    if (c.inboundPassthrough && c.type !== 'originalDst')
      errors.push(
        `${p}.inboundPassthrough: only an originalDst cluster dials the original destination; set type: originalDst or remove it`,
      );
    if (c.inboundPassthrough && c.tls === 'mutual')
      errors.push(`${p}.inboundPassthrough: the pod's own app is reached in plaintext; remove tls: mutual`);
    duplicates(
      (c.subsets ?? []).map((s) => s.name),
      (j) => `${p}.subsets[${j}].name`,
      'subset',
      errors,
    );
    if ((c.tls === 'mutual' || (c.endpoints ?? []).some((e) => e.tls === 'mutual')) && !cfg.identity) {
      errors.push(`${p}.tls: mutual TLS needs an identity (top-level identity: certChain, privateKey, trustRoots)`);
    }
  });
  cfg.listeners.forEach((l, i) =>
    l.chains.forEach((c, j) => {
      if ((c.tls === 'strict' || c.tls === 'permissive') && !cfg.identity)
        errors.push(`listeners[${i}].chains[${j}].tls: mutual TLS needs an identity`);
    }),
  );
  return errors;
}
