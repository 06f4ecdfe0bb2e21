/**
 * `meshctl authz check NAME[.NS]` (istioctl x authz check): the authorization policies and JWT
 * rules one sidecar enforces, read from what it runs (its admin API's /listeners; on Kubernetes
 * what it acknowledged), one row per rule, in evaluation order (DENY, ALLOW, AUDIT). `-o json`
 * gives each inbound listener's authz block with key sets summarized (public keys, but long).
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { parseProxyName } from '../cluster/proxy-status.js';
import { UsageError } from '../errors.js';
import type { AuthzConfig, AuthzRuleConfig } from '../protocol/proxy-config/index.js';

/** The flags of `meshctl authz check`. */
export interface AuthzFlags {
  output?: string;
}

interface AdminListener {
  name: string;
  port: number;
  direction: string;
  authz?: AuthzConfig | null;
}

const ORDER: Record<string, number> = { DENY: 0, ALLOW: 1, AUDIT: 2 };

/** `ns[NS]-policy[NAME]` -> `NAME.NS` (how users name resources). */
export function policyDisplayName(name: string): string {
  const m = /^ns\[(.*)\]-policy\[(.*)\]$/.exec(name);
  return m ? `${m[2]}.${m[1]}` : name;
}

function list(label: string, values: readonly string[] | undefined): string[] {
  return values?.length ? [`${label}=${values.join(',')}`] : [];
}

/** One rule as a short text: `from: principals=a | to: methods=GET,POST paths=/x* | when: ...`. */
export function describeRule(rule: AuthzRuleConfig): { from: string; to: string; when: string } {
  const from = (rule.from ?? []).map(
    (f) =>
      Object.entries(f.source ?? {})
        .flatMap(([k, v]) => list(k, v as string[]))
        .join(' ') || '*',
  );
  const to = (rule.to ?? []).map(
    (t) =>
      Object.entries(t.operation ?? {})
        .flatMap(([k, v]) => list(k, v as string[]))
        .join(' ') || '*',
  );
  const when = (rule.when ?? []).map((c) => [c.key, ...list('in', c.values), ...list('not in', c.notValues)].join(' '));
  return { from: from.join(' | ') || '*', to: to.join(' | ') || '*', when: when.join('; ') || '-' };
}

/** The authz blocks of the inbound listeners, one per distinct block (capture mode has one listener). */
function inboundAuthz(listeners: readonly AdminListener[]): { listener: string; port: number; authz: AuthzConfig }[] {
  const out: { listener: string; port: number; authz: AuthzConfig }[] = [];
  const seen = new Set<string>();
  for (const l of listeners) {
    if (l.direction !== 'inbound' || !l.authz) continue;
    const { destinationPort: _port, ...rest } = l.authz;
    const key = JSON.stringify(rest);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ listener: l.name, port: l.port, authz: l.authz });
  }
  return out;
}

/** Key sets summarized for display: the issuer and its key ids. */
function summarize(a: AuthzConfig): unknown {
  return {
    ...a,
    ...(a.jwtRules
      ? {
          jwtRules: a.jwtRules.map(({ jwks, ...r }) => {
            let kids: string[] = [];
            try {
              kids = ((JSON.parse(jwks) as { keys?: { kid?: string }[] }).keys ?? []).map((k, i) => k.kid ?? `#${i}`);
            } catch {
              kids = ['(unreadable)'];
            }
            return { ...r, keys: kids };
          }),
        }
      : {}),
  };
}

/** Checks the arguments and flags before any I/O: the output format and the proxy's name. */
export function validate(
  args: readonly string[],
  flags: AuthzFlags,
  defaultNamespace: string,
): { format: 'table' | 'json'; target: { name: string; namespace: string; id: string } } {
  const format = parseOutputFormat(flags.output, ['table', 'json'] as const, 'table');
  if (!args[0]) throw new UsageError('authz check needs a proxy name', 'meshctl authz check NAME[.NAMESPACE]');
  return { format, target: parseProxyName(args[0], defaultNamespace) };
}

const command: CommandDefinition = {
  name: 'authz',
  summary: 'Show the authorization policies and JWT rules a proxy enforces',
  define(cmd, bind) {
    const check = cmd
      .command('check')
      .description('the policies and rules that apply to a workload, as its sidecar runs them')
      .argument('<name>', 'the proxy: NAME or NAME.NAMESPACE (see meshctl proxy-status)')
      .option('-o, --output <format>', 'output format: table or json', 'table')
      .addHelpText(
        'after',
        examples(['meshctl authz check product-service-v1', 'meshctl authz check reviews-v1.default -o json']),
      );
    bind<AuthzFlags>(check, async (ctx, args, flags) => {
      const { format, target } = validate(args, flags, ctx.namespace());
      const platform = await ctx.platform();
      const blocks = inboundAuthz(await platform.proxyAdminGet<AdminListener[]>(target, '/listeners'));
      if (format === 'json') {
        const { toJson } = await import('../ui/printers.js');
        ctx.out(
          toJson({
            proxy: target.id,
            inbound: blocks.map((b) => ({ listener: b.listener, port: b.port, authz: summarize(b.authz) })),
          }),
        );
        return 0;
      }
      if (blocks.length === 0) {
        ctx.out(
          `${target.id}: no authorization policy and no JWT rule apply; every request is allowed (add an AuthorizationPolicy to restrict it)\n`,
        );
        return 0;
      }
      const { renderTable } = await import('../ui/table.js');
      const parts: string[] = [];
      for (const b of blocks) {
        if (blocks.length > 1) parts.push(ctx.style.bold(`listener ${b.listener} (port ${b.port})`));
        const policies = [...(b.authz.policies ?? [])].sort((x, y) => (ORDER[x.action] ?? 9) - (ORDER[y.action] ?? 9));
        const rows: string[][] = [];
        for (const p of policies) {
          if (p.rules.length === 0) rows.push([p.action, policyDisplayName(p.name), '-', 'matches nothing', '', '']);
          p.rules.forEach((r, i) => {
            const d = describeRule(r);
            rows.push([p.action, policyDisplayName(p.name), String(i), d.from, d.to, d.when]);
          });
        }
        if (rows.length) parts.push(renderTable(['ACTION', 'POLICY', 'RULE', 'FROM', 'TO', 'WHEN'], rows));
        if (policies.some((p) => p.action === 'ALLOW'))
          parts.push('ALLOW policies apply: a request no DENY rule and no ALLOW rule matches is denied (403).\n');
        const jwt = b.authz.jwtRules ?? [];
        if (jwt.length) {
          const jrows = jwt.map((r) => {
            const s = summarize({ jwtRules: [r] }) as { jwtRules: { keys: string[] }[] };
            const where = [
              ...(r.fromHeaders ?? []).map((h) => `header ${h.name}${h.prefix ? ` "${h.prefix}"` : ''}`),
              ...(r.fromParams ?? []).map((q) => `?${q}`),
              ...(r.fromCookies ?? []).map((c) => `cookie ${c}`),
            ];
            return [
              r.issuer,
              (r.audiences ?? []).join(',') || '-',
              where.join(', ') || 'Authorization: Bearer, ?access_token',
              s.jwtRules[0]!.keys.join(',') || 'none yet',
            ];
          });
          parts.push(renderTable(['JWT ISSUER', 'AUDIENCES', 'TOKEN FROM', 'KEYS'], jrows));
        }
      }
      ctx.out(parts.join('\n'));
      return 0;
    });
  },
};
export default command;
