/**
 * The admission webhooks' HTTPS server (port 15017, exposed as Service port 443): `POST /inject`
 * (the sidecar injector) and `POST /validate` (mesh config validation, webhook/validation.ts). The serving
 * certificate can change at runtime (rotation): `setCertificate` swaps the TLS context for new
 * connections without a restart.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decideAdmission, type AdmissionDecision } from './admission.js';
import { decideValidation, type SemanticFindings } from './validation.js';
import type { InjectOptions } from '../../inject/index.js';

/** How the webhook server is set up. */
export interface WebhookServerOptions {
  cert: string;
  key: string;
  /** Current inject settings; read per request so a config change applies without a restart. */
  injectOptions: () => InjectOptions;
  /** Called with every decision (the control plane logs it). Never receives key material. */
  onDecision?: (d: AdmissionDecision) => void;
  /** Called with the summary of every validation decision (`Kind ns/name: denied (...)`). */
  onValidation?: (summary: string) => void;
  /** The analyzers' findings about a valid object, returned as admission warnings. */
  semanticFindings?: SemanticFindings;
}

/** A running webhook server. */
export interface WebhookServer {
  server: Server;
  setCertificate(cert: string, key: string): void;
  close(): Promise<void>;
}

const MAX_BODY = 4 * 1024 * 1024; // pods with large env or annotations are rare; 4 MiB bounds memory

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`request body over ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Starts the webhook on `port` (0: any) at `host`. */
export async function startWebhookServer(
  o: WebhookServerOptions,
  port: number,
  host = '0.0.0.0',
): Promise<WebhookServer> {
  const server = createServer({ cert: o.cert, key: o.key, minVersion: 'TLSv1.2' }, async (req, res) => {
    const validate = req.url?.startsWith('/validate') === true;
    if (req.method !== 'POST' || !(validate || req.url?.startsWith('/inject'))) {
      reply(res, 404, { error: 'the webhook serves POST /inject and POST /validate' });
      return;
    }
    let review: unknown;
    try {
      review = JSON.parse(await readBody(req));
    } catch (err) {
      reply(res, 400, { error: `not an AdmissionReview: ${(err as Error).message}` });
      return;
    }
    if (validate) {
      const v = decideValidation(review, o.semanticFindings);
      o.onValidation?.(v.summary);
      reply(res, 200, v.review);
      return;
    }
    const decision = decideAdmission(review, o.injectOptions());
    o.onDecision?.(decision);
    reply(res, 200, decision.review);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    setCertificate: (cert, key) => server.setSecureContext({ cert, key, minVersion: 'TLSv1.2' }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
