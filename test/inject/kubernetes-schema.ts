/** Validates objects against the Kubernetes OpenAPI schemas (kubernetes-models), as the API server would. */
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ReplicationController } from 'kubernetes-models/v1/ReplicationController';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Pod,
  Service,
  ServiceAccount,
  ConfigMap,
  ReplicationController,
  Deployment,
  StatefulSet,
  DaemonSet,
  ReplicaSet,
  Job,
  CronJob,
};

/** Throws with the schema's message when a core object is invalid; other kinds are not checked here. */
export function validateKubernetesObject(obj: Record<string, unknown>): void {
  const Model = MODELS[String(obj.kind)];
  if (!Model) return;
  new Model(obj as never).validate();
}
