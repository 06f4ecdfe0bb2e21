/**
 * The server name (SNI) of a TLS ClientHello, read without terminating TLS: what a gateway in
 * PASSTHROUGH mode routes on (Envoy's tls_inspector). Every length is checked against the bytes
 * present; a malformed or hostile hello yields "no name", never an exception or a large read.
 */

/** The largest ClientHello record the proxy waits for (TLS records are at most 16 KiB + header). */
export const MAX_CLIENT_HELLO = 16_384 + 5;

/**
 * undefined: more bytes are needed; null: not a ClientHello, or one without a server name;
 * a string: the (lowercased) host name.
 */
export function serverNameOf(buf: Buffer): string | null | undefined {
  if (buf.length < 5) return buf.length > 0 && buf[0] !== 0x16 ? null : undefined;
  if (buf[0] !== 0x16 || buf[1] !== 0x03) return null;
  const recordLength = buf.readUInt16BE(3);
  if (recordLength > MAX_CLIENT_HELLO - 5) return null;
  if (buf.length < 5 + recordLength) return undefined;
  const rec = buf.subarray(5, 5 + recordLength);
  // Handshake header: type 1 (ClientHello), 3-byte length.
  if (rec.length < 4 || rec[0] !== 0x01) return null;
  let p = 4 + 2 + 32; // version, random
  if (p + 1 > rec.length) return null;
  p += 1 + rec[p]!; // session id
  if (p + 2 > rec.length) return null;
  p += 2 + rec.readUInt16BE(p); // cipher suites
  if (p + 1 > rec.length) return null;
  p += 1 + rec[p]!; // compression methods
  if (p + 2 > rec.length) return null;
  const extEnd = Math.min(rec.length, p + 2 + rec.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = rec.readUInt16BE(p);
    const len = rec.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return null;
    if (type === 0) {
      // server_name: list length, then entries (type 0 = host_name, 2-byte length, name).
      let q = p + 2;
      const end = p + len;
      while (q + 3 <= end) {
        const nameType = rec[q]!;
        const nameLen = rec.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > end) return null;
        if (nameType === 0) {
          const name = rec.toString('latin1', q, q + nameLen).toLowerCase();
          return /^[a-z0-9*]([a-z0-9.-]{0,252})$/.test(name) ? name : null;
        }
        q += nameLen;
      }
      return null;
    }
    p += len;
  }
  return null;
}
