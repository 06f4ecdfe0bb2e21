/**
 * A proxy's config in two parts, as the translation builds it: what every proxy of its namespace
 * shares (encoded once per snapshot), and its own.
 */
import type {
  ClusterConfig,
  ListenerConfig,
  ProxyConfig,
  RouteConfigConfig,
} from '../../protocol/proxy-config/index.js';
import type { TranslationNote } from './routes.js';

/** The shared part of a config for one traffic mode: the same objects for every proxy of a namespace. */
export interface SharedOutbound {
  readonly clusters: readonly ClusterConfig[];
  readonly routes: readonly RouteConfigConfig[];
  /** capture mode: the outbound capture listener; explicit mode: none (its port is per proxy). */
  readonly listeners: readonly ListenerConfig[];
  readonly notes: readonly TranslationNote[];
}

/** A proxy's config in two parts: what its namespace shares, and its own (inbound, its outbound port). */
export interface ProxyConfigParts {
  readonly shared: SharedOutbound;
  readonly own: {
    clusters: ClusterConfig[];
    routes: RouteConfigConfig[];
    listeners: ListenerConfig[];
    notes?: TranslationNote[];
  };
  readonly node: NonNullable<ProxyConfig['node']>;
}
