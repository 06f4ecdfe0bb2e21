/**
 * Admission webhooks work as on a real cluster: the API server calls a webhook Service, resolved through
 * its endpoints to a pod on the test node (aggregator routing: there is no kube-proxy), over TLS checked
 * against the configuration's caBundle. This is the path the mesh's injection webhook takes.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { TestCa } from './harness/pki.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from './support.js';

describeRequiring([isRoot, kubernetesTestBinaries], 'test cluster: admission webhooks', () => {
  let cluster: TestCluster;
  let ns: string;
  let webhookName: string;

  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await cluster.createNamespace('mtc-webhook');
    webhookName = `${ns}.deny-label.test.meshctl.dev`;
    const ca = await TestCa.create('webhook-ca');
    const serving = await ca.issue({ subject: 'CN=webhook', server: true, dns: [`webhook.${ns}.svc`] });
    await cluster.apply(
      `
apiVersion: v1
kind: Secret
metadata: {name: webhook-tls}
stringData:
  tls.crt: ${JSON.stringify(serving.certPem)}
  tls.key: ${JSON.stringify(serving.keyPem)}
---
apiVersion: v1
kind: Pod
metadata: {name: webhook, labels: {app: webhook}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: tls, secret: {secretName: webhook-tls}}]
  containers:
  - name: webhook
    image: meshctl-test/echo
    env:
    - {name: PORT, value: "8443"}
    - {name: TLS_CERT_FILE, value: /etc/webhook/tls.crt}
    - {name: TLS_KEY_FILE, value: /etc/webhook/tls.key}
    volumeMounts: [{name: tls, mountPath: /etc/webhook, readOnly: true}]
    readinessProbe:
      httpGet: {path: /readyz, port: 8443, scheme: HTTPS}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: webhook}
spec:
  selector: {app: webhook}
  ports: [{port: 443, targetPort: 8443}]
`,
      ns,
    );
    await cluster.waitForReadyPods(ns, 'app=webhook', 1);
    const admission = cluster.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
    await admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: webhookName },
        webhooks: [
          {
            name: webhookName,
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 5,
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
            clientConfig: {
              service: { namespace: ns, name: 'webhook', port: 443 },
              caBundle: Buffer.from(ca.certPem).toString('base64'),
            },
          },
        ],
      },
    });
  });
  afterAll(async () => {
    if (!cluster) return;
    const admission = cluster.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
    await admission.deleteValidatingWebhookConfiguration({ name: webhookName }).catch(() => {});
    await cluster.deleteNamespace(ns);
  });

  it('the API server calls the webhook pod through its Service and enforces its verdict', async () => {
    const [webhookPod] = await cluster.pods(ns, 'app=webhook');
    // The webhook configuration takes effect asynchronously: wait until the API server uses it.
    const denied = await cluster.waitFor(
      'the webhook to deny a labelled ConfigMap',
      async () => {
        const r = await cluster.kubectl(['create', '-n', ns, '-f', '-'], {
          input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: refused, labels: {deny: "true"}}\n',
        });
        return r.code !== 0 ? r : undefined;
      },
      30_000,
    );
    expect(denied.stderr).toContain(
      `admission webhook "${webhookName}" denied the request: denied by ${webhookPod?.metadata?.name}`,
    );

    const allowed = await cluster.kubectl(['create', '-n', ns, '-f', '-'], {
      input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: accepted}\ndata: {a: b}\n',
    });
    expect(allowed.stdout).toContain('configmap/accepted created');
  });
});
