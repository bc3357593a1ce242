// End-to-end harness: a real kube-apiserver + etcd on loopback, kubectl, and a test webhook server.
export { startCluster, type Cluster, type StartClusterOptions } from './cluster.js';
export { runKubectl, type KubectlOptions, type KubectlResult } from './kubectl.js';
export { waitFor, freePort, toolPath, toolsBinDir, type WaitForOptions } from './process.js';
export {
  createCA,
  createServiceAccountKeyPair,
  type CertificateAuthority,
  type KeyPairPem,
} from './certs.js';
export {
  startWebhookServer,
  type AdmissionDecision,
  type AdmissionRequest,
  type WebhookServer,
} from './webhook-server.js';
