/** MeshConfig -> the proxies' telemetry section: Istio's field meanings (the seed's examples and extension providers). */
import { describe, expect, it } from 'vitest';
import { telemetryFromMeshConfig } from '../../../src/control-plane/generators/telemetry.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/index.js';

/** The proxy accepts the section (it is what the stream carries). */
function accepted(section: Record<string, unknown>): boolean {
  const { name: _n, ...telemetry } = section;
  return validateProxyConfig({ apiVersion: 'proxy.meshctl.dev/v1', listeners: [], telemetry }).ok;
}

describe('telemetry from MeshConfig', () => {
  it('maps the seed\'s tracing example: 100% to the zipkin address', () => {
    const t = telemetryFromMeshConfig({ defaultConfig: { tracing: { sampling: 100, zipkin: { address: 'zipkin.istio-system:9411' } } } });
    expect(t).toEqual({ name: 'telemetry', tracing: { sampling: 100, zipkin: { address: 'zipkin.istio-system:9411' } } });
    expect(accepted(t)).toBe(true);
  });

  it('maps access log file and encoding as Istio reads them ("" is off)', () => {
    expect(telemetryFromMeshConfig({ accessLogFile: '/dev/stdout', accessLogEncoding: 'TEXT' })).toEqual({ name: 'telemetry', accessLog: 'stdout', accessLogEncoding: 'TEXT' });
    expect(telemetryFromMeshConfig({ accessLogFile: '' }).accessLog).toBe('off');
    expect(telemetryFromMeshConfig({ accessLogFile: '/var/log/mesh/access.log' }).accessLog).toBe('/var/log/mesh/access.log');
  });

  it('uses the default providers among extensionProviders (zipkin and opentelemetry), custom tags, and enableTracing: false', () => {
    const mc = {
      extensionProviders: [
        { name: 'otel', opentelemetry: { service: 'otel-collector.observability.svc.cluster.local', port: 4318, http: { path: '/v1/traces' } } },
        { name: 'zipkin', zipkin: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } },
        { name: 'unused', zipkin: { service: 'nowhere', port: 1 } },
      ],
      defaultProviders: { tracing: ['otel', 'zipkin'] },
      defaultConfig: { tracing: { sampling: 5, custom_tags: { team: { literal: { value: 'books' } }, user: { header: { name: 'x-user', defaultValue: 'anon' } } } } },
    };
    const t = telemetryFromMeshConfig(mc);
    expect(t.tracing).toEqual({
      sampling: 5,
      openTelemetry: { address: 'otel-collector.observability.svc.cluster.local:4318', path: '/v1/traces' },
      zipkin: { address: 'zipkin.istio-system.svc.cluster.local:9411' },
      customTags: { team: { literal: { value: 'books' } }, user: { header: { name: 'x-user', defaultValue: 'anon' } } },
    });
    expect(accepted(t)).toBe(true);
    expect(telemetryFromMeshConfig({ ...mc, enableTracing: false }).tracing).toBeUndefined();
    // no collector: nothing to export to (Istio's default sampling alone does not start an exporter)
    expect(telemetryFromMeshConfig({ defaultConfig: { tracing: { sampling: 50 } } }).tracing).toBeUndefined();
  });
});
