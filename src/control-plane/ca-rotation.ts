/**
 * Runs a root CA rotation inside the control plane (`meshctl ca rotate` starts or resumes it):
 * each phase of RootRotation is followed by publishing the trust bundle (the trust file proxies
 * watch; its header names the phase, so every phase change makes every proxy renew and fetch the
 * CA's bundle) and by waiting until every connected proxy has renewed since that phase began.
 * Only then does the next phase start, so no proxy is ever handed a peer certificate it cannot
 * verify, and the old root leaves the bundle only after no connected proxy holds a leaf from it.
 */
import { writeFileAtomic } from './atomic-file.js';
import type { CertificateAuthority } from './ca/authority.js';
import type { RootRotation, RotationStatus } from './ca/rotation.js';
import type { AdsServer } from './stream/ads-server.js';

/** What a rotation run needs from the control plane. */
export interface CaRotationDeps {
  readonly authority: CertificateAuthority;
  readonly rotation: RootRotation;
  readonly ads: AdsServer;
  /** Re-issues the config stream's serving certificate from the current signing root. */
  reissueServing(): Promise<void>;
  /** Where the public trust bundle is written (local: $MESHCTL_HOME/ca-root.pem). */
  readonly trustFile: string;
  readonly log: (line: string) => void;
  /** How often proxy progress is re-checked. */
  readonly pollMs?: number;
}

/** Progress of the rotation the control plane is running, for `/debug/ca` and `meshctl ca rotate`. */
export interface CaRotationProgress {
  readonly running: boolean;
  /** One line per step so far (the CLI prints the ones it has not printed yet). */
  readonly steps: readonly string[];
  /** Connected proxies that have not renewed in the current phase (SPIFFE IDs). */
  readonly waitingFor: readonly string[];
  readonly error?: string;
  readonly status: RotationStatus;
}

/** Writes the trust bundle with a header naming the phase (a change of phase changes the file). */
export async function writeTrustFile(file: string, authority: CertificateAuthority, phase: string): Promise<void> {
  const header = `# meshctl trust bundle (root rotation phase: ${phase})\n`;
  await writeFileAtomic(file, header + authority.trustBundlePem, 0o644);
}

/** Drives rotations; one at a time, a second request while one runs joins it. */
export class CaRotationRunner {
  private running: Promise<void> | undefined;
  private steps: string[] = [];
  private waitingFor: string[] = [];
  private error: string | undefined;

  constructor(private readonly deps: CaRotationDeps) {}

  /** The current progress. */
  progress(): CaRotationProgress {
    return {
      running: this.running !== undefined,
      steps: [...this.steps],
      waitingFor: [...this.waitingFor],
      ...(this.error ? { error: this.error } : {}),
      status: this.deps.rotation.status(),
    };
  }

  /** Starts a rotation, or resumes the one in progress (after a restart it continues at its phase). */
  start(): CaRotationProgress {
    if (!this.running) {
      this.steps = [];
      this.error = undefined;
      this.running = this.run()
        .catch((err: Error) => {
          this.error = err.message;
          this.step(
            `rotation stopped: ${err.message}; the old root is still trusted, ` +
              'run meshctl ca rotate again to resume',
          );
        })
        .finally(() => {
          this.running = undefined;
        });
    }
    return this.progress();
  }

  private step(line: string): void {
    this.steps.push(line);
    this.deps.log(`CA rotation: ${line}`);
  }

  private async run(): Promise<void> {
    const { rotation, authority } = this.deps;
    let phase = rotation.status().phase;
    if (phase === 'idle') {
      await rotation.addNewRoot();
      phase = 'added';
      this.step('1/3 new root added to the trust bundle');
    } else {
      this.step(`resuming the rotation started ${rotation.status().startedAt ?? ''} at phase ${phase}`);
    }
    if (phase === 'added') {
      await this.publishAndWait('added', 'trust bundle (old + new root) delivered to every proxy');
      await rotation.signWithNewRoot();
      await this.deps.reissueServing();
      phase = 'signing';
      this.step('2/3 the CA signs with the new root');
    }
    await this.publishAndWait('signing', 'every proxy holds a certificate from the new root', authority.rootPem);
    await rotation.complete();
    await this.deps.reissueServing();
    await writeTrustFile(this.deps.trustFile, authority, 'done');
    this.step('3/3 old root removed from the trust bundle; rotation complete');
  }

  /**
   * Publishes the bundle and waits until each connected proxy renewed since (with a certificate
   * from `root` when given). Proxies that disconnect stop being waited for; new ones get the bundle
   * when they start.
   */
  private async publishAndWait(phase: string, done: string, root?: string): Promise<void> {
    const { authority, ads } = this.deps;
    authority.resetIssuedLedger();
    await writeTrustFile(this.deps.trustFile, authority, phase);
    for (;;) {
      const perId = new Map<string, number>();
      for (const v of ads.views()) if (v.spiffeId) perId.set(v.spiffeId, (perId.get(v.spiffeId) ?? 0) + 1);
      this.waitingFor = [...perId]
        .filter(([id, n]) => {
          const issued = authority.issuedSinceReset(id).filter((r) => root === undefined || r === root);
          return issued.length < n;
        })
        .map(([id]) => id);
      if (!this.waitingFor.length) break;
      await new Promise((r) => setTimeout(r, this.deps.pollMs ?? 250));
    }
    this.step(done);
  }
}
