/** Kind names as users type them (`vs`, `virtualservices`, `dr`, `svc`), resolved to group and kind. */
import { UsageError } from '../errors.js';
import { MESH_KINDS, findKindByName } from '../config/index.js';

/** A kind resolved from user input. */
export interface ResolvedKind {
  group: string;
  kind: string;
}

const CORE: Record<string, ResolvedKind> = {
  service: { group: '', kind: 'Service' },
  services: { group: '', kind: 'Service' },
  svc: { group: '', kind: 'Service' },
};

/** Resolves a kind name; an unknown or ambiguous one is a usage error listing what is known. */
export function resolveKind(name: string): ResolvedKind {
  const core = CORE[name.toLowerCase()];
  if (core) return core;
  const found = findKindByName(name);
  if (found.length === 1) return { group: found[0]!.group, kind: found[0]!.kind };
  if (found.length > 1) {
    throw new UsageError(
      `"${name}" is ambiguous: ${found.map((k) => `${k.plural}.${k.group}`).join(', ')}`,
      'use the full name, e.g. authorizationpolicies.security.istio.io',
    );
  }
  const known = [
    'service (svc)',
    ...MESH_KINDS.map((k) => `${k.singular}${k.shortNames.length ? ` (${k.shortNames.join(', ')})` : ''}`),
  ];
  throw new UsageError(`unknown kind "${name}"`, `known kinds: ${[...new Set(known)].join(', ')}`);
}
