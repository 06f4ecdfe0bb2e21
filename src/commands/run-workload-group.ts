/**
 * `meshctl run --workload-group NAME`: the workload joins the local mesh as a member of an Istio
 * WorkloadGroup, the way a VM's agent auto-registers from one (istiod's workloadEntryFromGroup): it
 * gets the template's labels, then the group's metadata labels, then its own `--labels` (the later
 * wins, as node metadata wins in Istio), the template's serviceAccount (a different
 * `--service-account` is refused, as istiod refuses a proxy of another account), the template's
 * weight, and the template's port when it lists one and `--port` is not given. The rest of the group
 * (address, network, locality, annotations, probe) is not applied: the truth table says so (MESH0002).
 */
import type { WorkloadGroup } from '../config/index.js';
import { UsageError } from '../errors.js';

/** What a WorkloadGroup gives a `meshctl run` workload. */
export interface GroupMembership {
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount?: string;
  readonly port?: number;
  readonly weight?: number;
}

/** The flags a member's settings are checked against (as given on the command line). */
interface GivenFlags {
  readonly port?: number;
  readonly serviceAccount?: string;
}

/**
 * The membership `group` (object `name` of `namespace`) gives a workload; throws UsageError where the
 * group and the flags disagree. Pure: the caller fetched the group.
 */
export function groupMembership(
  group: { name: string; namespace: string; spec: WorkloadGroup['spec'] },
  given: GivenFlags,
): GroupMembership {
  const { template, metadata } = group.spec;
  const where = `WorkloadGroup ${group.name}.${group.namespace}`;
  if (template.serviceAccount && given.serviceAccount && given.serviceAccount !== template.serviceAccount)
    throw new UsageError(
      `--service-account ${given.serviceAccount}: ${where} runs its workloads as ${template.serviceAccount}`,
      `drop --service-account (members of the group get ${template.serviceAccount}), or edit the group's template.serviceAccount`,
    );
  const ports = [...new Set(Object.values(template.ports ?? {}))];
  if (given.port === undefined && ports.length > 1)
    throw new UsageError(
      `--port is required: ${where} lists ports ${ports.join(', ')}`,
      'give the one the command listens on, e.g. --port ' + ports[0],
    );
  return {
    labels: { ...template.labels, ...metadata?.labels },
    ...(template.serviceAccount ? { serviceAccount: template.serviceAccount } : {}),
    ...(given.port === undefined && ports.length === 1 ? { port: ports[0]! } : {}),
    ...(template.weight ? { weight: template.weight } : {}),
  };
}

/** The WorkloadGroup `name` among `objects` (a platform's WorkloadGroups of `namespace`), or a clear error. */
export function findWorkloadGroup(
  objects: readonly { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown }[],
  name: string,
  namespace: string,
): { name: string; namespace: string; spec: WorkloadGroup['spec'] } {
  const found = objects.find(
    (o) => o.kind === 'WorkloadGroup' && o.metadata.name === name && (o.metadata.namespace ?? 'default') === namespace,
  );
  if (!found?.spec)
    throw new UsageError(
      `--workload-group ${name}: no WorkloadGroup ${name} in namespace ${namespace}`,
      `apply one first (meshctl apply -f workloadgroup.yaml), or give its namespace with -n`,
    );
  return { name, namespace, spec: found.spec as WorkloadGroup['spec'] };
}
