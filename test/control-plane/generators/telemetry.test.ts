/** MeshConfig -> the proxies' telemetry section: Istio's field meanings (the seed's examples and extension providers). */
import { describe, expect, it } from 'vitest';
import {
  telemetryFor,
  telemetryFromMeshConfig,
  telemetryScopes,
} from '../../../src/control-plane/generators/telemetry.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';

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

describe('Telemetry metrics overrides, merged per side and metric as Istio merges them', () => {
  const telemetry = (name: string, namespace: string, spec: Record<string, unknown>) => ({
    metadata: { name, namespace },
    spec,
  });
  // the istio docs' examples: remove a tag mesh-wide, add one per namespace, disable client metrics for a workload
  const removeTags = telemetry('remove-tags', 'mesh-system', {
    metrics: [
      {
        providers: [{ name: 'prometheus' }],
        overrides: [
          {
            match: { mode: 'CLIENT_AND_SERVER', metric: 'REQUEST_COUNT' },
            tagOverrides: { grpc_response_status: { operation: 'REMOVE' } },
          },
        ],
      },
    ],
  });
  const customTags = telemetry('custom-tags', 'shop', {
    metrics: [
      {
        overrides: [
          {
            match: { metric: 'REQUEST_COUNT', mode: 'SERVER' },
            tagOverrides: {
              request_method: { value: 'request.method' },
              grpc_response_status: { value: '"none"' },
            },
          },
        ],
      },
    ],
  });
  const quietClient = telemetry('quiet-client', 'shop', {
    selector: { matchLabels: { app: 'cart' } },
    metrics: [{ overrides: [{ match: { metric: 'ALL_METRICS', mode: 'CLIENT' }, disabled: true }] }],
  });
  const all = [removeTags, customTags, quietClient];
  const metricsOf = (namespace: string, labels: Record<string, string>, mc = {}) =>
    telemetryFor(mc, telemetryScopes(all, { namespace, labels }, 'mesh-system')).metrics;

  it('a REMOVE mesh-wide reaches both sides; a namespace UPSERT of the same tag replaces it on its side only', () => {
    expect(metricsOf('default', {})).toEqual({
      overrides: [
        { metric: 'REQUEST_COUNT', mode: 'CLIENT', tags: [{ name: 'grpc_response_status', remove: true }] },
        { metric: 'REQUEST_COUNT', mode: 'SERVER', tags: [{ name: 'grpc_response_status', remove: true }] },
      ],
    });
    expect(metricsOf('shop', { app: 'web' })).toEqual({
      overrides: [
        { metric: 'REQUEST_COUNT', mode: 'CLIENT', tags: [{ name: 'grpc_response_status', remove: true }] },
        {
          metric: 'REQUEST_COUNT',
          mode: 'SERVER',
          tags: [
            { name: 'grpc_response_status', value: '"none"' },
            { name: 'request_method', value: 'request.method' },
          ],
        },
      ],
    });
  });

  it('ALL_METRICS disabled for CLIENT turns off the eight client metrics of the selected workload only', () => {
    const cart = metricsOf('shop', { app: 'cart' })!;
    const client = cart.overrides!.filter((o) => o.mode === 'CLIENT');
    expect(client.map((o) => [o.metric, o.disabled])).toEqual(
      [
        'REQUEST_COUNT',
        'REQUEST_DURATION',
        'REQUEST_SIZE',
        'RESPONSE_SIZE',
        'TCP_CLOSED_CONNECTIONS',
        'TCP_OPENED_CONNECTIONS',
        'TCP_RECEIVED_BYTES',
        'TCP_SENT_BYTES',
      ].map((m) => [m, true]),
    );
    // the server side keeps its namespace tags and is not disabled
    expect(cart.overrides!.find((o) => o.mode === 'SERVER')).toMatchObject({ metric: 'REQUEST_COUNT' });
    expect(cart.overrides!.some((o) => o.mode === 'SERVER' && o.disabled)).toBe(false);
    expect(accepted({ name: 'telemetry', metrics: cart })).toBe(true);
  });

  it('providers: the most specific scope naming some decides; no prometheus provider in scope means no Istio metrics', () => {
    const stackdriverOnly = telemetry('sd', 'other', { metrics: [{ providers: [{ name: 'stackdriver' }] }] });
    const t = telemetryFor(
      {},
      telemetryScopes([removeTags, stackdriverOnly], { namespace: 'other', labels: {} }, 'mesh-system'),
    );
    expect(t.metrics).toEqual({ disabled: true });
    // MeshConfig's defaultProviders.metrics without prometheus: off until a Telemetry names prometheus
    expect(telemetryFor({ defaultProviders: { metrics: ['stackdriver'] } }, []).metrics).toEqual({ disabled: true });
    // a Prometheus extension provider under another name counts
    const renamed = { extensionProviders: [{ name: 'prom', prometheus: {} }], defaultProviders: { metrics: ['prom'] } };
    expect(telemetryFor(renamed, []).metrics).toBeUndefined();
    // a workload's disabled: false re-enables what its namespace disabled
    const off = telemetry('off', 'shop', {
      metrics: [{ overrides: [{ match: { metric: 'ALL_METRICS' }, disabled: true }] }],
    });
    const on = telemetry('on', 'shop', {
      selector: { matchLabels: { app: 'cart' } },
      metrics: [{ overrides: [{ disabled: false }] }],
    });
    const scoped = (app: string) =>
      telemetryFor({}, telemetryScopes([on, off], { namespace: 'shop', labels: { app } }, 'mesh-system')).metrics;
    expect(scoped('cart')).toBeUndefined();
    expect(scoped('web')!.overrides!.filter((o) => o.disabled)).toHaveLength(16);
  });
});
