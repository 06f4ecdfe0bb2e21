/**
 * The access log: one line per request (and per TCP connection) with Envoy-style response flags,
 * as JSON (field names as Istio's JSON access log, the default) or TEXT (Envoy's default format,
 * as `meshConfig.accessLogEncoding: TEXT` gives in Istio). Lines are batched per event-loop turn
 * into one write, so logging costs no syscall per request under load. Where lines go follows the
 * config (`stdout`, `stderr`, `off` or a file path) and changes without a restart.
 */
import { createWriteStream } from 'node:fs';

/** One access log entry (field names as Istio's JSON access log). */
export interface AccessLogEntry {
  start_time: string;
  method?: string;
  path?: string;
  protocol: string;
  response_code: number;
  response_flags: string;
  /** gRPC requests: the grpc-status of the response (trailers, or headers of a trailers-only answer) */
  grpc_status?: string;
  duration: number;
  bytes_received: number;
  bytes_sent: number;
  upstream_service?: string;
  upstream_cluster: string;
  upstream_host: string;
  authority?: string;
  request_id?: string;
  trace_id?: string;
  downstream_remote_address: string;
  user_agent?: string;
  x_forwarded_for?: string;
  route_name?: string;
  listener: string;
  attempts?: number;
  /** why the proxy answered itself, e.g. `rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[N]]` */
  response_code_details?: string;
  /** the AUDIT AuthorizationPolicy rule that matched */
  rbac_audit_matched_policy?: string;
  /** TCP: why the proxy closed the connection (an RBAC denial names the policy) */
  connection_termination_details?: string;
}

/** How lines are written. */
export type AccessLogEncoding = 'JSON' | 'TEXT';

/** A field of the TEXT line: `-` when absent, no line breaks (a header cannot forge a second line). */
function f(v: string | number | undefined): string {
  if (v === undefined || v === '') return '-';
  return typeof v === 'number' ? String(v) : v.replace(/[\r\n]/g, ' ');
}

/**
 * Envoy's default access log format:
 * `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
 * %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
 * "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"`.
 */
export function textLine(e: AccessLogEntry): string {
  const protocol = e.protocol === 'tcp' ? '-' : e.protocol;
  return (
    `[${e.start_time}] "${f(e.method)} ${f(e.path)} ${protocol}" ${e.response_code} ${f(e.response_flags)} ` +
    `${e.bytes_received} ${e.bytes_sent} ${Math.round(e.duration)} - "${f(e.x_forwarded_for)}" "${f(e.user_agent)}" ` +
    `"${f(e.request_id)}" "${f(e.authority)}" "${f(e.upstream_host)}"`
  );
}

/** Writes entries to a stream (stdout by default). */
export class AccessLog {
  private pending: string[] = [];
  private scheduled = false;
  enabled: boolean;
  encoding: AccessLogEncoding = 'JSON';
  private target = '';
  private file: NodeJS.WritableStream | undefined;

  /** `out`: where `stdout` lines go (a launcher's stream, or the process's stdout); undefined: off. */
  constructor(private out: NodeJS.WritableStream | undefined) {
    this.enabled = out !== undefined;
  }

  /**
   * Follows the config: `off`, `stdout` (the launcher's stream: `defaultOut`), `stderr`, or a file
   * (opened 0600, appended). Without a `defaultOut` (the launcher turned the log off) it stays off.
   */
  configure(
    where: string | undefined,
    encoding: AccessLogEncoding | undefined,
    defaultOut: NodeJS.WritableStream | undefined,
  ): void {
    this.encoding = encoding ?? 'JSON';
    const target = where ?? 'stdout';
    if (target === this.target) return;
    this.flush();
    this.target = target;
    if (this.file) this.file.end();
    this.file = undefined;
    if (target === 'off' || defaultOut === undefined) {
      this.enabled = false;
      return;
    }
    if (target === 'stdout' || target === '/dev/stdout') this.out = defaultOut;
    else if (target === 'stderr' || target === '/dev/stderr') this.out = process.stderr;
    else {
      const file = createWriteStream(target, { flags: 'a', mode: 0o600 });
      // a file that cannot be opened or written turns the log off instead of crashing the proxy
      file.on('error', () => {
        if (this.file === file) this.enabled = false;
      });
      this.file = file;
      this.out = file;
    }
    this.enabled = true;
  }

  write(entry: AccessLogEntry): void {
    if (!this.enabled) return;
    this.pending.push(this.encoding === 'TEXT' ? textLine(entry) : JSON.stringify(entry));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || !this.out) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.out.write(text);
  }

  /** Flushes and closes a file the log opened. */
  close(): void {
    this.flush();
    this.file?.end();
    this.file = undefined;
  }
}
