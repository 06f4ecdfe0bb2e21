/**
 * What the config stream needs from the rest of the control plane: for one proxy and one resource
 * type, the resources it should have now. The push pipeline implements it; the stream only sends,
 * versions and tracks.
 */
import type { ResourceLayer } from './resource-encoding.js';

export type { ResourceLayer } from './resource-encoding.js';

/** A connected proxy, as authenticated (certificate) and described (node metadata). */
export interface ProxyNode {
  readonly id: string;
  readonly workload: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly proxyVersion: string;
}

/** The resources of one type for one proxy, and the version (snapshot) they come from. */
export interface GeneratedResources {
  readonly version: string;
  /** The whole list, as a state-of-the-world response carries it. */
  readonly resources: readonly unknown[];
  /**
   * The same resources as named layers, when the generator shares them between proxies (the
   * incremental stream encodes and diffs a shared layer once). Absent: one layer named from `resources`.
   */
  readonly layers?: readonly ResourceLayer[];
}

/** Computes a proxy's resources from the current snapshot. */
export interface ProxyConfigSource {
  /** The current snapshot's version. */
  readonly version: string;
  /** Resources of `typeUrl` for `proxy`; undefined when no generator serves that type. */
  generate(proxy: ProxyNode, typeUrl: string): GeneratedResources | undefined;
  /**
   * The config objects a proxy's refusal points at (`DestinationRule reviews.default`), from the
   * cluster and virtual host names in it; undefined when none is found.
   */
  describeSource?(reason: string): string | undefined;
}

/** Decides, for one push, whether a proxy's type must be regenerated (a generator's "does this change concern me"). */
export type PushFilter = (proxy: ProxyNode, typeUrl: string) => boolean;
