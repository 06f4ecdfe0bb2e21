/**
 * The mesh's size limits, one place for both sides so they agree end to end:
 *   a config object (one VirtualService, DestinationRule, ...) <= MAX_CONFIG_OBJECT_BYTES, refused
 *   larger at `apply` (and by anything that validates config), naming the object and the limit;
 *   one config stream message <= MAX_STREAM_MESSAGE_BYTES, what a proxy accepts: the control plane
 *   does not send a larger one (the type shows NACKED with the reason), so no proxy reconnects in a loop.
 * 1 MiB is below what the Kubernetes API server stores (etcd's 1.5 MiB request limit); a proxy
 * holding every route of 64 such objects on one port still fits in one message.
 */

/** The largest config object, as JSON bytes. */
export const MAX_CONFIG_OBJECT_BYTES = 1024 * 1024;

/** The largest config stream message a proxy accepts (and the control plane sends). */
export const MAX_STREAM_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The longest workload certificate lifetime (Istio's maximum, 90 days); a longer --cert-ttl is an error. */
export const MAX_CERT_TTL_SECONDS = 90 * 24 * 3600;

/** `1 MiB`, `64 MiB`, `712 KiB`: a byte count as people read limits. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} bytes`;
}
