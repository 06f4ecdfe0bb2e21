/** MeshConfig -> the proxies' telemetry section: Istio's field meanings (the seed's examples and extension providers). */
import { describe, expect, it } from 'vitest';
import {
  telemetryFor,
  telemetryFromMeshConfig,
  telemetryScopes,
} from '../../../src/control-plane/generators/telemetry.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/index.js';

/** The proxy accepts the section (it is what the stream carries). */
function accepted(section: Record<string, unknown>): boolean {
  const { name: _n, ...telemetry } = section;
  return validateProxyConfig({ apiVersion: 'proxy.meshctl.dev/v1', listeners: [], telemetry }).ok;
}

describe('telemetry from MeshConfig', () => {
  it("maps the seed's tracing example: 100% to the zipkin address", () => {
    const t = telemetryFromMeshConfig({
      defaultConfig: { tracing: { sampling: 100, zipkin: { address: 'zipkin.istio-system:9411' } } },
    });
    expect(t).toEqual({
      name: 'telemetry',
      tracing: { sampling: 100, zipkin: { address: 'zipkin.istio-system:9411' } },
    });
    expect(accepted(t)).toBe(true);
  });

  it('maps access log file and encoding as Istio reads them ("" is off)', () => {
    expect(telemetryFromMeshConfig({ accessLogFile: '/dev/stdout', accessLogEncoding: 'TEXT' })).toEqual({
      name: 'telemetry',
      accessLog: 'stdout',
      accessLogEncoding: 'TEXT',
    });
    expect(telemetryFromMeshConfig({ accessLogFile: '' }).accessLog).toBe('off');
    expect(telemetryFromMeshConfig({ accessLogFile: '/var/log/mesh/access.log' }).accessLog).toBe(
      '/var/log/mesh/access.log',
    );
  });

  it('uses the default providers among extensionProviders (zipkin and opentelemetry), custom tags, and enableTracing: false', () => {
    const mc = {
      extensionProviders: [
        {
          name: 'otel',
          opentelemetry: {
            service: 'otel-collector.observability.svc.cluster.local',
            port: 4318,
            http: { path: '/v1/traces' },
          },
        },
        { name: 'zipkin', zipkin: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } },
        { name: 'unused', zipkin: { service: 'nowhere', port: 1 } },
      ],
      defaultProviders: { tracing: ['otel', 'zipkin'] },
      defaultConfig: {
        tracing: {
          sampling: 5,
          custom_tags: {
            team: { literal: { value: 'books' } },
            user: { header: { name: 'x-user', defaultValue: 'anon' } },
          },
        },
      },
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

describe('telemetry from Telemetry resources, scoped as Istio scopes them', () => {
  const mc = {
    extensionProviders: [
      { name: 'zipkin', zipkin: { service: 'zipkin.istio-system', port: 9411 } },
      { name: 'otel', opentelemetry: { service: 'otel.observability', port: 4318 } },
      { name: 'file-log', envoyFileAccessLog: { path: '/var/log/mesh/access.log' } },
    ],
    defaultProviders: { tracing: ['zipkin'] },
  };
  const telemetry = (name: string, namespace: string, spec: Record<string, unknown>) => ({
    metadata: { name, namespace },
    spec,
  });
  const meshWide = telemetry('mesh-default', 'mesh-system', { tracing: [{ randomSamplingPercentage: 10 }] });
  const shopWide = telemetry('shop', 'shop', {
    tracing: [{ randomSamplingPercentage: 50, customTags: { team: { literal: { value: 'shop' } } } }],
    accessLogging: [{ providers: [{ name: 'envoy' }] }],
  });
  const checkout = telemetry('checkout', 'shop', {
    selector: { matchLabels: { app: 'checkout' } },
    tracing: [{ providers: [{ name: 'otel' }], randomSamplingPercentage: 100 }],
    accessLogging: [{ disabled: true }],
  });
  const all = [checkout, shopWide, meshWide];
  const forProxy = (namespace: string, labels: Record<string, string>) =>
    telemetryFor(mc, telemetryScopes(all, { namespace, labels }, 'mesh-system'));

  it('mesh-wide in the root namespace, overridden per namespace, then per workload selector (matchLabels)', () => {
    expect(forProxy('default', { app: 'web' }).tracing).toEqual({
      sampling: 10,
      zipkin: { address: 'zipkin.istio-system:9411' },
    });
    expect(forProxy('shop', { app: 'cart' })).toEqual({
      name: 'telemetry',
      accessLog: 'stdout',
      tracing: {
        sampling: 50,
        zipkin: { address: 'zipkin.istio-system:9411' },
        customTags: { team: { literal: { value: 'shop' } } },
      },
    });
    // the selector's workload: its providers replace the mesh's, its sampling wins, accessLogging disabled
    const c = forProxy('shop', { app: 'checkout', version: 'v2' });
    expect(c.tracing).toEqual({
      sampling: 100,
      openTelemetry: { address: 'otel.observability:4318' },
      customTags: { team: { literal: { value: 'shop' } } },
    });
    expect(c.accessLog).toBe('off');
  });

  it('passes accessLogging[].filter.expression to the proxies (they evaluate it per request)', () => {
    const errorsOnly = telemetry('errors', 'default', {
      accessLogging: [{ filter: { expression: 'response.code >= 400' } }],
    });
    expect(
      telemetryFor(mc, telemetryScopes([errorsOnly], { namespace: 'default', labels: {} }, 'mesh-system')),
    ).toMatchObject({ accessLog: 'stdout', accessLogFilter: 'response.code >= 400' });
  });

  it('disableSpanReporting stops export; an envoyFileAccessLog provider names the file', () => {
    const off = telemetry('quiet', 'default', {
      tracing: [{ disableSpanReporting: true }],
      accessLogging: [{ providers: [{ name: 'file-log' }] }],
    });
    const t = telemetryFor(mc, telemetryScopes([off, meshWide], { namespace: 'default', labels: {} }, 'mesh-system'));
    expect(t.tracing).toBeUndefined();
    expect(t.accessLog).toBe('/var/log/mesh/access.log');
  });
});
