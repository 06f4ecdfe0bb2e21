/**
 * The Kubernetes checks of `meshctl check`, as data: which categories run for `--pre`, for an
 * installed mesh, and with `--proxy`. The runner and renderers are the platform-independent ones.
 */
import type { CheckCategory } from '../types.js';
import type { KubernetesCheckContext } from './context.js';
import { kubernetesInstallChecks } from './control-plane.js';
import { gatewayCategory } from './gateways.js';
import { apiCategory, kubernetesPreChecks } from './pre.js';
import { kubernetesProxyChecks } from './proxies.js';

export type { KubernetesCheckContext } from './context.js';
export { crdDifferences } from './control-plane.js';

/** The categories for a mode of `meshctl check`. */
export function kubernetesChecks(mode: { pre?: boolean; proxy?: boolean }): CheckCategory<KubernetesCheckContext>[] {
  if (mode.pre) return kubernetesPreChecks();
  return [
    apiCategory(),
    ...kubernetesInstallChecks(),
    gatewayCategory(),
    ...(mode.proxy ? kubernetesProxyChecks() : []),
  ];
}
