/**
 * Every generator of the config stream, for both platforms, and the kind claims they are checked
 * against at start-up. A new resource type (policies, a gateway's listeners) is one more entry in
 * `meshGenerators()`: a ConfigGenerator declaring its type URL and what it reads (see
 * src/control-plane/push/generator.ts); the kinds it starts reading leave src/config/enforcement.ts.
 */
import { configKinds, NOT_ENFORCED_KINDS, REGISTRATION_KINDS } from '../../config/index.js';
import { GeneratorSet, kindRef, type ConfigGenerator, type KindClaims } from '../push/generator.js';
import { translationGenerators } from './translation.js';
import { telemetryGenerator } from './telemetry.js';

/** The generators of the config stream. */
export function meshGenerators(): ConfigGenerator[] {
  return [...translationGenerators(), telemetryGenerator()];
}

/** Every mesh kind must be read by a generator, where workloads register, or declared accepted-but-not-enforced. */
export function meshKindClaims(): KindClaims {
  return {
    kinds: configKinds().map((k) => kindRef(k.group, k.kind)),
    notEnforced: NOT_ENFORCED_KINDS.map((k) => kindRef(k.group, k.kind)),
    atRegistration: REGISTRATION_KINDS.map((k) => kindRef(k.group, k.kind)),
  };
}

/** The generator set a control plane serves, checked against the claims (throws KindClaimError). */
export function meshGeneratorSet(generators: readonly ConfigGenerator[] = meshGenerators()): GeneratorSet {
  return new GeneratorSet(generators, meshKindClaims());
}
