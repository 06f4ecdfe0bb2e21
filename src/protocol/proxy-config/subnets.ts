/**
 * Destination subnets of a filter chain (VirtualService tcp/tls `destinationSubnets`, ServiceEntry
 * `addresses`): addresses and CIDRs compiled once per config into a BlockList, so a connection's
 * original destination is checked without allocating.
 */
import { BlockList, isIP } from 'node:net';

/** Whether an address is in the set. */
export type SubnetTest = (address: string) => boolean;

/** Compiles `values` (validated by the config's validation: every one an address or a CIDR). */
export function compileSubnets(values: readonly string[]): SubnetTest {
  const list = new BlockList();
  for (const v of values) {
    const [addr, bits] = v.split('/');
    const type = isIP(addr ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  return (address) => {
    // Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6.
    const ip = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const family = isIP(ip);
    return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/** Why `value` is not an address or CIDR, or undefined when it is one. */
export function subnetProblem(value: string): string | undefined {
  const [addr, bits, extra] = value.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || extra !== undefined) return `"${value}" is not an IP address or CIDR`;
  if (bits !== undefined && (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > (family === 6 ? 128 : 32)))
    return `"${value}" has an invalid prefix length`;
  return undefined;
}
