/**
 * The import rules of the house (../DESIGN.md "The house"), checked by `npm run lint:imports`:
 * a module never imports one listed above it; the control plane and the proxy runtime never import
 * each other; inject, analyze and config never reach cluster/; the proxy runtime reaches nothing
 * CLI-side; nothing outside src/cluster/ reaches a backend (kubernetes/, local/); inside the proxy
 * runtime, no floor imports one above it (PROXY_FLOORS); no run-time import cycle anywhere in src/.
 */
// The house, top to bottom. A module may import its own floor and the floors below it.
const FLOORS = [
  ['^src/cli\\.ts$'],
  ['^src/commands/'],
  ['^src/context\\.ts$'],
  ['^src/checks/'],
  ['^src/demo/', '^src/dashboard/'],
  ['^src/analyze/'],
  ['^src/control-plane/'],
  ['^src/cluster/'],
  // The install manifests (pure rendering, shared by `manifest generate` and the Kubernetes backend's install).
  ['^src/install/'],
  ['^src/proxy-runtime/'],
  ['^src/proxy-init/'],
  ['^src/inject/'],
  ['^src/protocol/'],
  ['^src/config/'],
  ['^src/ui/'],
  ['^src/errors\\.ts$', '^src/version\\.ts$'],
];

/**
 * The proxy runtime's floors, top to bottom, in the order a request climbs down them (README "The proxy's
 * floors"): a module imports its own floor and the floors below it, never one above.
 */
const PROXY_FLOORS = [
  ['^src/proxy-runtime/bootstrap/'], // the Kubernetes pod launcher around a Proxy
  ['^src/proxy-runtime/proxy\\.ts$'], // the proxy: validate -> build -> swap, drain
  ['^src/proxy-runtime/runtime/'], // xds client, identity, admin and telemetry servers, drain, guard
  ['^src/proxy-runtime/listeners/'], // sockets: listeners, protocol detection, capture, SO_ORIGINAL_DST
  ['^src/proxy-runtime/downstream/'], // downstream servers: HTTP/1.1, h2, upgrades, CONNECT, TCP proxy
  ['^src/proxy-runtime/telemetry/'], // recording exchanges and connections: metrics, access log, spans
  ['^src/proxy-runtime/http/'], // exchange, layers, route tables, the compiled config version
  ['^src/proxy-runtime/upstream/'], // clusters, load balancing, outlier detection, pools, retry budgets
  ['^src/proxy-runtime/ground/'], // header map, failures, flags, peer metadata, dialing, endpoints, TLS, log, HTTP/1 codec
];

const join = (patterns) => patterns.map((p) => `(${p})`).join('|');

/** One rule per floor: nothing on it imports a floor above it. */
const houseRules = FLOORS.slice(1).map((floor, i) => ({
  name: `house-order:${floor.join(',')}`,
  comment: 'A module never imports one listed above it in DESIGN.md "The house".',
  severity: 'error',
  from: { path: join(floor) },
  to: { path: join(FLOORS.slice(0, i + 1).flat()) },
}));

/** One rule per proxy floor: nothing on it imports a floor above it. */
const proxyFloorRules = PROXY_FLOORS.slice(1).map((floor, i) => ({
  name: `proxy-floor:${floor.join(',')}`,
  comment: 'A proxy-runtime module never imports a floor above its own (README "The proxy\'s floors").',
  severity: 'error',
  from: { path: join(floor) },
  to: { path: join(PROXY_FLOORS.slice(0, i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    ...houseRules,
    ...proxyFloorRules,
    {
      name: 'proxy-floor-every-module-on-a-floor',
      comment: 'Every proxy-runtime module lives on one of the floors in PROXY_FLOORS, so the floor rules see it.',
      severity: 'error',
      from: { path: '^src/proxy-runtime/', pathNot: join(PROXY_FLOORS.flat()) },
      to: {},
    },
    {
      name: 'control-plane-not-proxy-runtime',
      comment: 'The control plane and the proxy runtime share config/ and protocol/, never each other.',
      severity: 'error',
      from: { path: '^src/control-plane/' },
      to: { path: '^src/proxy-runtime/' },
    },
    {
      name: 'proxy-runtime-nothing-cli-side',
      comment:
        'The sidecar stays small: the proxy runtime reaches only protocol/, config/, proxy-init/ and the error catalogue.',
      severity: 'error',
      from: { path: '^src/proxy-runtime/' },
      to: { path: '^src/', pathNot: '^src/(proxy-runtime|protocol|config|proxy-init)/|^src/(errors|version)\\.ts$' },
    },
    {
      name: 'sidecar-without-typebox',
      comment:
        'A sidecar checks its config with the ahead-of-time check (protocol/proxy-config/shape-check.generated.ts) and ' +
        'loads TypeBox (~3 MB of heap) only to name what is wrong in a config that fails it (validate-lazily.ts, a ' +
        'dynamic import): nothing on its path imports TypeBox or a module that does.',
      severity: 'error',
      from: {
        path: '^src/proxy-runtime/|^src/protocol/proxy-config/(index|constants|semantic|validate-lazily|duration|redact|subnets)\\.ts$',
      },
      to: {
        path: '@sinclair/typebox|^src/protocol/proxy-config/(schema|validate|shape-check-source)\\.ts$|^src/config/(kinds/|kind\\.ts|schema\\.ts|index\\.ts)',
        dependencyTypesNot: ['type-only', 'dynamic-import'],
      },
    },
    {
      name: 'pure-modules-offline',
      comment: 'inject, analyze and config are pure and testable offline: they never reach cluster/.',
      severity: 'error',
      from: { path: '^src/(inject|analyze|config)/' },
      to: { path: '^src/cluster/' },
    },
    {
      name: 'backend-behind-the-interface',
      comment:
        'Nothing outside src/cluster/ reaches a backend (kubernetes/, local/): the platform interface is src/cluster/index.ts ' +
        '(its types re-exported type-only, its code reached through MeshPlatform and the narrowed KubernetesPlatform/LocalPlatform).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cluster/' },
      to: { path: '^src/cluster/(kubernetes|local)/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: { path: '^src/' },
      // Type-only back references (a backend naming the interface it implements) are not cycles at run time.
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
