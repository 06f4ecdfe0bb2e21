/**
 * The access log: one JSON object per request (and per TCP connection) with Envoy-style response
 * flags. Lines are batched per event-loop turn into one write, so logging costs no syscall per
 * request under load.
 */

/** One access log entry (field names as Istio's JSON access log). */
export interface AccessLogEntry {
  start_time: string;
  method?: string;
  path?: string;
  protocol: string;
  response_code: number;
  response_flags: string;
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

/** Writes entries to a stream (stdout by default). */
export class AccessLog {
  private pending: string[] = [];
  private scheduled = false;
  enabled: boolean;

  constructor(private readonly out: NodeJS.WritableStream | undefined) {
    this.enabled = out !== undefined;
  }

  write(entry: AccessLogEntry): void {
    if (!this.enabled) return;
    this.pending.push(JSON.stringify(entry));
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
}
