/** A real gRPC echo service (@grpc/grpc-js, no proto files) for the proxy tests. */
import * as grpc from '@grpc/grpc-js';
import { closeAfter } from './support.js';

const id = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
/** The test service: unary Echo (with a trailer), unary Fail (NOT_FOUND), bidi Chat. */
export const service = {
  Echo: method('Echo', false, false),
  Fail: method('Fail', false, false),
  Chat: method('Chat', true, true),
} as unknown as grpc.ServiceDefinition;
/** A generic client of the test service. */
export type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

/** Starts the service on a free loopback port. */
export async function startGrpcServer(): Promise<number> {
  const server = new grpc.Server();
  server.addService(service, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const trailer = new grpc.Metadata();
      trailer.set('x-served', 'yes');
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailer);
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }),
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), m])));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  closeAfter({ close: () => new Promise<void>((r) => server.tryShutdown(() => r())) });
  return port;
}

/** A client of the test service through `port`. */
export function client(port: number): Client {
  const Ctor = grpc.makeGenericClientConstructor(service as grpc.ServiceDefinition, 'Echo');
  const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
  closeAfter({ close: () => c.close() });
  return c;
}

/** One unary call, with its error, value and trailers. */
export function unary(
  c: Client,
  name: string,
  msg: string,
): Promise<{ err: grpc.ServiceError | null; value?: string; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c[name]!(Buffer.from(msg), (err: grpc.ServiceError | null, v?: Buffer) => {
      setImmediate(() => resolve({ err, value: v?.toString(), trailers }));
    }) as grpc.ClientUnaryCall;
    call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}
