export {
  assessCertificate,
  type CertificateAssessment,
  type RenewReason,
  type StoredCertificate,
} from './assess.js';
export {
  ensureWebhookCertificates,
  startCertificateRotation,
  TLS_SECRET_TYPE,
  type CertificateRotation,
  type EnsuredCertificates,
  type StoredSecret,
  type WebhookCertificateApi,
  type WebhookCertificateDeps,
  type WebhookCertificateOptions,
  type WebhookKind,
} from './ensure.js';
export { certificateFilePaths, writeCertificateFiles, type CertificateFilePaths } from './files.js';
export {
  generateWebhookCertificate,
  serviceDnsNames,
  splitPemBundle,
  type WebhookCertificate,
} from './generate.js';
