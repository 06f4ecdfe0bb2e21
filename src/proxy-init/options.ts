/**
 * What `meshctl proxy init` captures, as validated data. Flags and pod annotations both land here;
 * everything is checked before any iptables command runs, so a typo in an annotation is a clear
 * error naming the flag or annotation instead of a half-applied rule set.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { UsageError } from '../errors.js';
import { PROXY_GID, PROXY_UID, ProxyPorts } from '../protocol/well-known.js';

/** An address family the rules are written for. */
export type IpFamily = 'ipv4' | 'ipv6';

/** A CIDR split into its parts; `text` is the canonical form iptables-save prints (`10.0.0.0/8`). */
export interface Cidr {
  family: IpFamily;
  text: string;
}

/** `*` (everything) or an explicit list. */
export type Wildcard<T> = '*' | readonly T[];

/** The validated capture settings of one pod. */
export interface CaptureOptions {
  proxyUids: readonly number[];
  proxyGids: readonly number[];
  /** Port of the proxy's inbound capture listener (15006). */
  inboundCapturePort: number;
  /** Port of the proxy's outbound capture listener (15001). */
  outboundCapturePort: number;
  /** Inbound ports redirected to the proxy: `*` for all, or a list (empty: no inbound capture). */
  includeInboundPorts: Wildcard<number>;
  /** Inbound ports never redirected; always holds the proxy's own admin and telemetry ports. */
  excludeInboundPorts: readonly number[];
  /** Outbound ports always redirected, whatever the destination range. */
  includeOutboundPorts: readonly number[];
  /** Outbound ports never redirected. */
  excludeOutboundPorts: readonly number[];
  /** Outbound destinations redirected: `*` for all, or CIDRs (empty: only includeOutboundPorts). */
  includeOutboundIpRanges: Wildcard<Cidr>;
  /** Outbound destinations never redirected. */
  excludeOutboundIpRanges: readonly Cidr[];
  /** Interfaces whose traffic is never captured, in either direction. */
  excludeInterfaces: readonly string[];
  /** Write IPv6 rules too: `auto` when the namespace has a global IPv6 address. */
  ipv6: 'auto' | boolean;
  /** Which iptables backend: detected (`auto`), or forced. */
  iptablesMode: 'auto' | 'nft' | 'legacy';
}

/** The proxy's own ports: traffic to them is the proxy's business, never redirected to itself. */
export const PROXY_OWN_INBOUND_PORTS: readonly number[] = [ProxyPorts.admin, ProxyPorts.telemetry];

/** Raw setting values as strings, keyed like the flags (camelCase), from flags or annotations. */
export interface RawCaptureSettings {
  proxyUid?: string;
  proxyGid?: string;
  inboundCapturePort?: string;
  outboundCapturePort?: string;
  includeInboundPorts?: string;
  excludeInboundPorts?: string;
  includeOutboundPorts?: string;
  excludeOutboundPorts?: string;
  includeOutboundIpRanges?: string;
  excludeOutboundIpRanges?: string;
  excludeInterfaces?: string;
  ipv6?: string;
  iptablesMode?: string;
}

/** Where a raw value came from, so errors point at the flag or the annotation to fix. */
export type SettingSource = (key: keyof RawCaptureSettings) => string;

/** The flag name of a setting (`--exclude-inbound-ports`). */
export function flagName(key: keyof RawCaptureSettings): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

function listOf(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function parsePort(text: string, where: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(
      `${where}: "${text}" is not a port`,
      'give TCP ports from 1 to 65535, separated by commas (e.g. 8080,9090)',
    );
  }
  return Number(text);
}

function parsePorts(value: string, where: string): number[] {
  return [...new Set(listOf(value).map((p) => parsePort(p, where)))];
}

function parseId(value: string, where: string): number[] {
  const ids = listOf(value).map((v) => {
    if (!/^\d{1,10}$/.test(v) || Number(v) > 4294967294) {
      throw new UsageError(
        `${where}: "${v}" is not a numeric user or group id`,
        'use numeric ids (e.g. 1337): names would need a passwd lookup inside the pod',
      );
    }
    return Number(v);
  });
  if (ids.length === 0) throw new UsageError(`${where}: needs at least one id`);
  return [...new Set(ids)];
}

/** Parses `10.0.0.0/8`, `fd00::/8` or a bare address (taken as a host route) into canonical form. */
export function parseCidr(text: string, where: string): Cidr {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family: IpFamily | undefined = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
  const bad = () =>
    new UsageError(
      `${where}: "${text}" is not an IP range`,
      'give CIDRs such as 10.96.0.0/12 or fd00::/8, separated by commas',
    );
  if (!family) throw bad();
  const max = family === 'ipv4' ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) throw bad();
  const prefix = Number(prefixText);
  return { family, text: `${family === 'ipv4' ? maskV4(addr, prefix) : maskV6(addr, prefix)}/${prefix}` };
}

function maskV4(addr: string, prefix: number): string {
  const n = addr.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  const masked = prefix === 0 ? 0n : (n >> BigInt(32 - prefix)) << BigInt(32 - prefix);
  return [24n, 16n, 8n, 0n].map((s) => String((masked >> s) & 255n)).join('.');
}

/** Expands, masks and re-compresses an IPv6 address the way iptables-save prints it (RFC 5952). */
function maskV6(addr: string, prefix: number): string {
  const words = expandV6(addr);
  let n = words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
  n = prefix === 0 ? 0n : (n >> BigInt(128 - prefix)) << BigInt(128 - prefix);
  const out: number[] = [];
  for (let i = 7; i >= 0; i--) out.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  return compressV6(out);
}

function expandV6(addr: string): number[] {
  let text = addr.toLowerCase();
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex words.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    text = text.slice(0, v4.index) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((w) => parseInt(w, 16));
}

function compressV6(words: number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function parseCidrs(value: string, where: string): Cidr[] {
  const seen = new Set<string>();
  return listOf(value)
    .map((c) => parseCidr(c, where))
    .filter((c) => (seen.has(c.text) ? false : (seen.add(c.text), true)));
}

function parseInterfaces(value: string, where: string): string[] {
  const names = listOf(value);
  for (const n of names) {
    if (!/^[A-Za-z0-9_.@:+-]{1,15}$/.test(n)) {
      throw new UsageError(
        `${where}: "${n}" is not a network interface name`,
        'give interface names such as eth1, separated by commas',
      );
    }
  }
  return [...new Set(names)];
}

function parseBool(value: string, where: string): 'auto' | boolean {
  if (value === 'auto') return 'auto';
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`${where}=${value}: expected auto, true or false`);
}

/**
 * Validates raw settings into CaptureOptions. Defaults are Istio's: proxy UID/GID 1337, capture
 * ports 15001/15006, every inbound port and every outbound destination captured.
 */
export function resolveCaptureOptions(raw: RawCaptureSettings, source: SettingSource = flagName): CaptureOptions {
  const portOf = (key: 'inboundCapturePort' | 'outboundCapturePort', fallback: number) =>
    raw[key] === undefined ? fallback : parsePort(raw[key]!.trim(), source(key));
  const inboundCapturePort = portOf('inboundCapturePort', ProxyPorts.inboundCapture);
  const outboundCapturePort = portOf('outboundCapturePort', ProxyPorts.outboundCapture);
  if (inboundCapturePort === outboundCapturePort) {
    throw new UsageError(
      `${source('inboundCapturePort')} and ${source('outboundCapturePort')} are both ${inboundCapturePort}`,
      'the inbound and outbound capture listeners need different ports',
    );
  }

  const includeInbound = raw.includeInboundPorts?.trim();
  const includeInboundPorts: Wildcard<number> =
    includeInbound === undefined || includeInbound === '*'
      ? '*'
      : parsePorts(includeInbound, source('includeInboundPorts'));
  const excludeInboundPorts = [
    ...new Set([
      ...PROXY_OWN_INBOUND_PORTS,
      ...(raw.excludeInboundPorts ? parsePorts(raw.excludeInboundPorts, source('excludeInboundPorts')) : []),
    ]),
  ];

  const includeRanges = raw.includeOutboundIpRanges?.trim();
  const includeOutboundIpRanges: Wildcard<Cidr> =
    includeRanges === undefined || includeRanges === '*'
      ? '*'
      : parseCidrs(includeRanges, source('includeOutboundIpRanges'));
  if (raw.excludeOutboundIpRanges?.trim() === '*') {
    throw new UsageError(
      `${source('excludeOutboundIpRanges')}: "*" would exclude every destination`,
      `to capture no outbound traffic, set ${source('includeOutboundIpRanges')} to ""`,
    );
  }

  const iptablesMode = raw.iptablesMode ?? 'auto';
  if (iptablesMode !== 'auto' && iptablesMode !== 'nft' && iptablesMode !== 'legacy') {
    throw new UsageError(`${source('iptablesMode')}=${iptablesMode}: expected auto, nft or legacy`);
  }

  return {
    proxyUids: raw.proxyUid === undefined ? [PROXY_UID] : parseId(raw.proxyUid, source('proxyUid')),
    proxyGids: raw.proxyGid === undefined ? [PROXY_GID] : parseId(raw.proxyGid, source('proxyGid')),
    inboundCapturePort,
    outboundCapturePort,
    includeInboundPorts,
    excludeInboundPorts,
    includeOutboundPorts: raw.includeOutboundPorts
      ? parsePorts(raw.includeOutboundPorts, source('includeOutboundPorts'))
      : [],
    excludeOutboundPorts: raw.excludeOutboundPorts
      ? parsePorts(raw.excludeOutboundPorts, source('excludeOutboundPorts'))
      : [],
    includeOutboundIpRanges,
    excludeOutboundIpRanges: raw.excludeOutboundIpRanges
      ? parseCidrs(raw.excludeOutboundIpRanges, source('excludeOutboundIpRanges'))
      : [],
    excludeInterfaces: raw.excludeInterfaces ? parseInterfaces(raw.excludeInterfaces, source('excludeInterfaces')) : [],
    ipv6: raw.ipv6 === undefined ? 'auto' : parseBool(raw.ipv6, source('ipv6')),
    iptablesMode,
  };
}
