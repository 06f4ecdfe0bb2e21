/** The local-mesh harness moved to test/e2e/support/ (shared by every end-to-end suite); kept here for existing imports. */
export * from '../e2e/support/local-mesh.js';
