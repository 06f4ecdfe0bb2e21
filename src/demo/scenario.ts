/**
 * The story `meshctl demo` tells, as data: the bookinfo-like workloads it starts, the config it
 * applies at each step, and what the traffic should show afterwards. The checks accept what a
 * correct mesh produces with overwhelming probability (binomial tails below 1e-6), so a random
 * split of a bounded sample never fails the demo by bad luck, and 0% / 100% routes must be exact.
 */

/** One workload of the demo: a `meshctl run` of `meshctl demo-app`. */
export interface DemoWorkload {
  readonly name: string;
  readonly service: string;
  readonly version: string;
  /** Services it calls on each request, as `service:port`. */
  readonly calls: readonly string[];
}

/** Every service listens on this service port (as bookinfo's 9080). */
export const DEMO_SERVICE_PORT = 9080;

/** productpage calls details and reviews; reviews v2 and v3 call ratings. */
export const DEMO_WORKLOADS: readonly DemoWorkload[] = [
  { name: 'details-v1', service: 'details', version: 'v1', calls: [] },
  { name: 'ratings-v1', service: 'ratings', version: 'v1', calls: [] },
  { name: 'reviews-v1', service: 'reviews', version: 'v1', calls: [] },
  { name: 'reviews-v2', service: 'reviews', version: 'v2', calls: [`ratings:${DEMO_SERVICE_PORT}`] },
  { name: 'reviews-v3', service: 'reviews', version: 'v3', calls: [`ratings:${DEMO_SERVICE_PORT}`] },
  {
    name: 'productpage-v1',
    service: 'productpage',
    version: 'v1',
    calls: [`details:${DEMO_SERVICE_PORT}`, `reviews:${DEMO_SERVICE_PORT}`],
  },
];

/** The versions of reviews, whose traffic the demo shifts. */
export const REVIEWS_VERSIONS = ['v1', 'v2', 'v3'] as const;
export type ReviewsVersion = (typeof REVIEWS_VERSIONS)[number];

/** The Services and the DestinationRule with one subset per reviews version. */
export function baseConfig(namespace: string): string {
  const services = ['productpage', 'details', 'reviews', 'ratings'].map(
    (s) => `apiVersion: v1
kind: Service
metadata: {name: ${s}, namespace: ${namespace}, labels: {app: ${s}}}
spec:
  selector: {app: ${s}}
  ports:
  - {name: http, port: ${DEMO_SERVICE_PORT}}
`,
  );
  const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${namespace}}
spec:
  host: reviews
  subsets:
${REVIEWS_VERSIONS.map((v) => `  - {name: ${v}, labels: {version: ${v}}}`).join('\n')}
`;
  return [...services, dr].join('---\n');
}

/** A VirtualService for reviews: a weighted split, optionally behind a header match for one user. */
export function reviewsVirtualService(
  namespace: string,
  weights: Partial<Record<ReviewsVersion, number>>,
  headerRoute?: { user: string; version: ReviewsVersion },
): string {
  const split = Object.entries(weights)
    .map(([v, w]) => `    - destination: {host: reviews, subset: ${v}}\n      weight: ${w}`)
    .join('\n');
  const header = headerRoute
    ? `  - match:
    - headers:
        end-user: {exact: ${headerRoute.user}}
    route:
    - destination: {host: reviews, subset: ${headerRoute.version}}
`
    : '';
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${namespace}}
spec:
  hosts: [reviews]
  http:
${header}  - route:
${split}
`;
}

/** One batch of traffic in a step, and the share of reviews versions it should show. */
export interface TrafficExpectation {
  /** `end-user` header sent with every request, if any. */
  readonly user?: string;
  readonly label: string;
  /** Expected probability of each version answering (missing = 0). */
  readonly shares: Partial<Record<ReviewsVersion, number>>;
}

/** A step of the demo. */
export interface DemoStep {
  readonly title: string;
  /** What is applied (YAML), or nothing (first step: no routing rules). */
  readonly config?: string;
  readonly describeConfig: string;
  readonly traffic: readonly TrafficExpectation[];
}

/** The steps: no rules, all v1, canary 90/10, 50/50, 100% v2, and a header route for jason to v3. */
export function demoSteps(namespace: string): DemoStep[] {
  const third = 1 / 3;
  return [
    {
      title: 'No routing rules: reviews is load-balanced over v1, v2 and v3',
      describeConfig: 'Services and DestinationRule reviews (subsets v1, v2, v3)',
      traffic: [{ label: 'all users', shares: { v1: third, v2: third, v3: third } }],
    },
    {
      title: 'Route every request to reviews v1',
      config: reviewsVirtualService(namespace, { v1: 100 }),
      describeConfig: 'VirtualService reviews: v1 100',
      traffic: [{ label: 'all users', shares: { v1: 1 } }],
    },
    {
      title: 'Canary: 10% of reviews traffic to v2',
      config: reviewsVirtualService(namespace, { v1: 90, v2: 10 }),
      describeConfig: 'VirtualService reviews: v1 90, v2 10',
      traffic: [{ label: 'all users', shares: { v1: 0.9, v2: 0.1 } }],
    },
    {
      title: 'Canary: half of reviews traffic to v2',
      config: reviewsVirtualService(namespace, { v1: 50, v2: 50 }),
      describeConfig: 'VirtualService reviews: v1 50, v2 50',
      traffic: [{ label: 'all users', shares: { v1: 0.5, v2: 0.5 } }],
    },
    {
      title: 'Canary done: all reviews traffic to v2',
      config: reviewsVirtualService(namespace, { v2: 100 }),
      describeConfig: 'VirtualService reviews: v2 100',
      traffic: [{ label: 'all users', shares: { v2: 1 } }],
    },
    {
      title: 'Header route: user jason sees v3, everyone else v2',
      config: reviewsVirtualService(namespace, { v2: 100 }, { user: 'jason', version: 'v3' }),
      describeConfig: 'VirtualService reviews: end-user jason -> v3, others v2 100',
      traffic: [
        { label: 'end-user: jason', user: 'jason', shares: { v3: 1 } },
        { label: 'other users', shares: { v2: 1 } },
      ],
    },
  ];
}

/** log(n choose k). */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log((n - k + i) / i);
  return s;
}

/**
 * The counts of `n` draws with probability `p` a correct mesh can produce: [low, high] such that
 * P(X < low) and P(X > high) are each below `alpha`. p = 0 and p = 1 give exact bounds.
 */
export function acceptedRange(n: number, p: number, alpha = 1e-6): [number, number] {
  if (p <= 0) return [0, 0];
  if (p >= 1) return [n, n];
  const pmf = (k: number) => Math.exp(logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log(1 - p));
  let low = 0;
  let tail = 0;
  while (low < n && tail + pmf(low) < alpha) tail += pmf(low++);
  let high = n;
  tail = 0;
  while (high > 0 && tail + pmf(high) < alpha) tail += pmf(high--);
  return [low, high];
}
