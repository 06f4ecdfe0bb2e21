/**
 * The one place commands are registered. Entries load lazily so that `meshctl version --client`
 * pays only for the version module, not for inject's YAML engine or the Kubernetes client.
 * Keep this list in the order `meshctl --help` should show it.
 */
import type { CommandDefinition } from './command.js';

/** A registered command: its name and how to load its module. */
export interface CommandEntry {
  readonly name: string;
  readonly load: () => Promise<{ default: CommandDefinition }>;
}

/** Every top-level command of meshctl. */
export const commandIndex: readonly CommandEntry[] = [
  { name: 'install', load: () => import('./install.js') },
  { name: 'uninstall', load: () => import('./uninstall.js') },
  { name: 'upgrade', load: () => import('./upgrade.js') },
  { name: 'run', load: () => import('./run.js') },
  { name: 'gateway', load: () => import('./gateway.js') },
  { name: 'inject', load: () => import('./inject.js') },
  { name: 'uninject', load: () => import('./uninject.js') },
  { name: 'apply', load: () => import('./apply.js') },
  { name: 'delete', load: () => import('./delete.js') },
  { name: 'get', load: () => import('./get.js') },
  { name: 'check', load: () => import('./check.js') },
  { name: 'proxy-status', load: () => import('./proxy-status.js') },
  { name: 'proxy-config', load: () => import('./proxy-config.js') },
  { name: 'authz', load: () => import('./authz.js') },
  { name: 'ca', load: () => import('./ca.js') },
  { name: 'manifest', load: () => import('./manifest.js') },
  { name: 'dashboard', load: () => import('./dashboard.js') },
  { name: 'demo', load: () => import('./demo.js') },
  { name: 'demo-app', load: () => import('./demo-app.js') },
  { name: 'analyze', load: () => import('./analyze.js') },
  { name: 'proxy', load: () => import('./proxy.js') },
  { name: 'control-plane', load: () => import('./control-plane.js') },
  { name: 'version', load: () => import('./version.js') },
];
