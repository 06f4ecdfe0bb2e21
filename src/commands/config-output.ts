/** How config commands (apply, delete, get) name objects and print outcomes, as kubectl does. */
import type { ConfigObjectKey, ConfigOutcome } from '../cluster/index.js';

/** `virtualservice.networking.istio.io/reviews`, or `service/reviews` for the core group. */
export function objectRef(key: ConfigObjectKey): string {
  const kind = key.kind.toLowerCase();
  return `${key.group ? `${kind}.${key.group}` : kind}/${key.name}`;
}

/** One line per outcome: `virtualservice.networking.istio.io/reviews created`. */
export function renderOutcomes(outcomes: readonly ConfigOutcome[]): string {
  return outcomes.map((o) => `${objectRef(o.key)} ${o.action}\n`).join('');
}
