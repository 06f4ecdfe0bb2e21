/**
 * The root CA checkers every platform runs (validity now, and 30 days of life left), read from the
 * control plane's /debug/ca. Only the hints differ: how a user replaces the CA depends on where it lives.
 */
import { CheckFailure, type Checker } from './types.js';

/** The control plane's /debug/ca answer. */
export interface CaInfo {
  origin: string;
  notBefore: string;
  notAfter: string;
  /** The root certificate (PEM); the Kubernetes checks compare webhook caBundles with it. */
  rootPem?: string;
}

/** What the CA checkers need from their context. */
export interface CaCheckContext {
  platform: { controlPlaneGet<T>(path: string): Promise<T> };
  now(): Date;
}

const DAY = 86_400_000;

/** How to fix each failure on this platform. */
export interface RootCaHints {
  invalid: string;
  expiring: string;
}

/** "the root CA certificate is valid" (fatal) and "does not expire within 30 days" (warning). */
export function rootCaCheckers<C extends CaCheckContext>(hints: RootCaHints): Checker<C>[] {
  return [
    {
      description: 'the root CA certificate is valid',
      hint: hints.invalid,
      fatal: true,
      async run(ctx) {
        const ca = await ctx.platform.controlPlaneGet<CaInfo>('/debug/ca');
        const now = ctx.now().getTime();
        if (now < Date.parse(ca.notBefore))
          throw new CheckFailure(`the root CA is not valid before ${ca.notBefore} (is the clock right?)`);
        if (now > Date.parse(ca.notAfter)) throw new CheckFailure(`the root CA expired on ${ca.notAfter}`);
        return `${ca.origin}, valid until ${ca.notAfter.slice(0, 10)}`;
      },
    },
    {
      description: 'the root CA does not expire within 30 days',
      hint: hints.expiring,
      warning: true,
      async run(ctx) {
        const ca = await ctx.platform.controlPlaneGet<CaInfo>('/debug/ca');
        const left = Date.parse(ca.notAfter) - ctx.now().getTime();
        if (left < 30 * DAY)
          throw new CheckFailure(`the root CA expires in ${Math.max(0, Math.floor(left / DAY))} days (${ca.notAfter})`);
      },
    },
  ];
}
