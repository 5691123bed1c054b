import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook must never reach (unless WEBHOOK_ALLOW_PRIVATE=true): unspecified,
 * loopback, private, carrier-grade NAT (where some clouds keep their metadata service), link-local
 * (169.254/16: the metadata address 169.254.169.254), benchmarking, multicast and reserved ranges,
 * and their IPv6 counterparts (fc00::/7 holds fd00:ec2::254). An IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible or NAT64 (64:ff9b::/96) address is judged by the IPv4 address inside it.
 */
const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv6');

/** The IPv4 address embedded in an IPv6 one (mapped, compatible, NAT64), if any. */
function embeddedV4(v6: string): string | undefined {
  const lower = v6.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::|::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const a = parseInt(hex[1], 16);
    const b = parseInt(hex[2], 16);
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  // Fully written forms (0:0:0:0:0:ffff:7f00:1) are normalised by URL/DNS before they get here;
  // expand them anyway.
  const full = /^0{1,4}:0{1,4}:0{1,4}:0{1,4}:0{1,4}:ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (full) {
    const a = parseInt(full[1], 16);
    const b = parseInt(full[2], 16);
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  return undefined;
}

/** Whether `address` (an IP literal) is one a webhook may not reach; anything not an IP is refused too. */
export function isForbiddenAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(a);
  if (family === 4) return BLOCKED.check(a, 'ipv4');
  if (family === 6) {
    const v4 = embeddedV4(a);
    if (v4 !== undefined) return BLOCKED.check(v4, 'ipv4');
    return BLOCKED.check(a, 'ipv6');
  }
  return true;
}
