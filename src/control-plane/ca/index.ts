/** The mesh CA: root material and its storage, CSR signing, and credential authenticators. */
export { CA_FILES, FileCaStorage, type CaMaterialPem, type CaStorage } from './storage.js';
export { createRootCa, loadOrCreateCa, signingCaFromPem, type CaSource, type SigningCa } from './root.js';
export {
  CertificateAuthority,
  DEFAULT_TTL_POLICY,
  type CaAuditLog,
  type CertificateTtlPolicy,
  type IssuedCertificate,
} from './authority.js';
export {
  LOCAL_TOKEN_PREFIX,
  LocalTokenAuthenticator,
  type AuthenticatedWorkload,
  type CredentialAuthenticator,
  type StoredToken,
} from './authenticator.js';
export { ROTATION_FILE, RootRotation, type RotationPhase, type RotationStatus } from './rotation.js';
