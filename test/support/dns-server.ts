/**
 * A small authoritative DNS server on loopback (UDP, RFC 1035 messages) for tests: A records the
 * test sets and changes, each with its TTL; AAAA queries for a known name answer NODATA, unknown
 * names NXDOMAIN. It counts the queries it answers, so a test can see a resolver re-resolve.
 */
import { createSocket, type Socket } from 'node:dgram';

const TYPE_A = 1;

/** A running test DNS server. */
export class TestDnsServer {
  private readonly records = new Map<string, { addresses: string[]; ttl: number }>();
  /** A queries answered, by name. */
  readonly aQueries = new Map<string, number>();

  private constructor(
    private readonly socket: Socket,
    /** `host:port`, as a resolver's server list takes it. */
    readonly address: string,
  ) {}

  /** Listens on `host` (loopback unless a test cluster's host link address is given). */
  static async start(host = '127.0.0.1'): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    const server = new TestDnsServer(socket, `${host}:${socket.address().port}`);
    socket.on('message', (msg, rinfo) => {
      const reply = server.answer(msg);
      if (reply) socket.send(reply, rinfo.port, rinfo.address);
    });
    return server;
  }

  /** Sets (or replaces) the A records of `name`. */
  set(name: string, addresses: string[], ttl: number): void {
    this.records.set(name.toLowerCase(), { addresses, ttl });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private answer(msg: Buffer): Buffer | undefined {
    if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
    // The question: labels up to the root, then type and class.
    let at = 12;
    const labels: string[] = [];
    while (at < msg.length && msg[at] !== 0) {
      const len = msg[at]!;
      if (len > 63 || at + 1 + len > msg.length) return undefined;
      labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
      at += 1 + len;
    }
    at += 1;
    if (at + 4 > msg.length) return undefined;
    const qtype = msg.readUInt16BE(at);
    const questionEnd = at + 4;
    const name = labels.join('.').toLowerCase();
    const record = this.records.get(name);
    const answers: Buffer[] = [];
    if (record && qtype === TYPE_A) {
      this.aQueries.set(name, (this.aQueries.get(name) ?? 0) + 1);
      for (const a of record.addresses) {
        const rr = Buffer.alloc(16);
        rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
        rr.writeUInt16BE(TYPE_A, 2);
        rr.writeUInt16BE(1, 4); // IN
        rr.writeUInt32BE(record.ttl, 6);
        rr.writeUInt16BE(4, 10);
        a.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
        answers.push(rr);
      }
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
    const rd = msg.readUInt16BE(2) & 0x0100;
    const rcode = record ? 0 : 3; // NXDOMAIN for names it does not know; AAAA of a known name: NODATA
    header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | rcode, 2); // QR, AA, RD as asked, RA
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    return Buffer.concat([header, msg.subarray(12, questionEnd), ...answers]);
  }
}
