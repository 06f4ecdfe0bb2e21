/**
 * The control plane's own metrics on its monitoring port (`GET /metrics` on 15014, as istiod's),
 * under istiod's names so Istio's control-plane dashboard reads them too: config pushes and their
 * latency per type, connected proxies, NACKs (rejects), certificate signing, and the process's CPU
 * and memory. One registry per process (istiod's are process-wide too); counters only go up.
 */
import { TypeUrl } from '../protocol/stream/messages.js';

/** istiod's short type names: `pilot_xds_pushes{type="cds"}`. */
const XDS_TYPE: Record<string, string> = {
  [TypeUrl.clusters]: 'cds',
  [TypeUrl.listeners]: 'lds',
  [TypeUrl.routes]: 'rds',
  [TypeUrl.endpoints]: 'eds',
};

/** istiod's type label of a type URL (the URL's last segment for types istiod does not have). */
export function xdsTypeLabel(typeUrl: string): string {
  return XDS_TYPE[typeUrl] ?? typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** Seconds buckets of istiod's push-time histogram. */
const PUSH_BUCKETS = [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30];

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

class Histogram {
  readonly counts = new Float64Array(PUSH_BUCKETS.length);
  sum = 0;
  count = 0;
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < PUSH_BUCKETS.length; i++) {
      if (v <= PUSH_BUCKETS[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/** The counters and histograms the stream server and the CA record into. */
export class ControlPlaneMetrics {
  private readonly pushes = new Map<string, number>();
  private readonly pushTime = new Map<string, Histogram>();
  /** every type starts at 0, so the NACK panel and alerts have a series before the first NACK */
  private readonly rejects = new Map<string, number>(Object.values(XDS_TYPE).map((t) => [t, 0]));
  private readonly signErrors = new Map<string, number>();
  private csrs = 0;
  private issued = 0;
  /** connected proxies, read at scrape time */
  connectedProxies: () => number = () => 0;

  /** One config response sent (`seconds`: generating and queueing it). */
  pushed(typeUrl: string, seconds: number): void {
    const t = xdsTypeLabel(typeUrl);
    this.pushes.set(t, (this.pushes.get(t) ?? 0) + 1);
    let h = this.pushTime.get(t);
    if (!h) this.pushTime.set(t, (h = new Histogram()));
    h.observe(seconds);
  }

  /** A proxy NACKed a response. */
  rejected(typeUrl: string): void {
    const t = xdsTypeLabel(typeUrl);
    this.rejects.set(t, (this.rejects.get(t) ?? 0) + 1);
  }

  /** A certificate signing request arrived. */
  csrReceived(): void {
    this.csrs++;
  }

  /** A certificate was issued. */
  certificateIssued(): void {
    this.issued++;
  }

  /** A signing request was refused (`error`: why, as a short label). */
  signFailed(error: string): void {
    this.signErrors.set(error, (this.signErrors.get(error) ?? 0) + 1);
  }

  /** The Prometheus text exposition. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const byLabel = (name: string, label: string, values: Map<string, number>) => {
      for (const [k, v] of values) out.push(`${name}{${label}="${esc(k)}"} ${v}`);
    };
    family('pilot_xds', 'gauge', 'Proxies connected to this control plane');
    out.push(`pilot_xds ${this.connectedProxies()}`);
    family('pilot_xds_pushes', 'counter', 'Config responses sent to proxies, by type (cds, lds, rds, eds)');
    byLabel('pilot_xds_pushes', 'type', this.pushes);
    family('pilot_xds_push_time', 'histogram', 'Seconds to generate and queue one config response, by type');
    for (const [t, h] of this.pushTime) {
      let cum = 0;
      PUSH_BUCKETS.forEach((b, i) => {
        cum += h.counts[i]!;
        out.push(`pilot_xds_push_time_bucket{type="${esc(t)}",le="${b}"} ${cum}`);
      });
      out.push(
        `pilot_xds_push_time_bucket{type="${esc(t)}",le="+Inf"} ${h.count}`,
        `pilot_xds_push_time_sum{type="${esc(t)}"} ${h.sum}`,
        `pilot_xds_push_time_count{type="${esc(t)}"} ${h.count}`,
      );
    }
    family('pilot_total_xds_rejects', 'counter', 'Config responses proxies rejected (NACK), by type');
    byLabel('pilot_total_xds_rejects', 'type', this.rejects);
    family('citadel_server_csr_count', 'counter', 'Certificate signing requests received');
    out.push(`citadel_server_csr_count ${this.csrs}`);
    family('citadel_server_success_cert_issuance_count', 'counter', 'Certificates issued');
    out.push(`citadel_server_success_cert_issuance_count ${this.issued}`);
    family('citadel_server_csr_sign_error_count', 'counter', 'Certificate signing requests refused, by reason');
    byLabel('citadel_server_csr_sign_error_count', 'error', this.signErrors);
    const cpu = process.cpuUsage();
    family('process_cpu_seconds_total', 'counter', 'User and system CPU time of the control plane process');
    out.push(`process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`);
    family('process_resident_memory_bytes', 'gauge', 'Resident memory of the control plane process');
    out.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    family('process_start_time_seconds', 'gauge', 'Start of the control plane process (unix seconds)');
    out.push(`process_start_time_seconds ${Math.floor(performance.timeOrigin / 1000)}`);
    return out.join('\n') + '\n';
  }
}

/** The control plane metrics of this process. */
export const controlPlaneMetrics = new ControlPlaneMetrics();
