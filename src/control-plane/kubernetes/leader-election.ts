/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does: the holder
 * renews `renewTime` every `retryMs`; a candidate takes the Lease over only when it has not been
 * renewed for `leaseDurationSeconds`; every write carries the read resourceVersion, so two
 * candidates racing for it cannot both win (the loser gets 409 Conflict). Used for the control
 * plane's singleton work (webhook caBundle, root CA ConfigMaps); every replica serves proxies.
 * Needs only what install's Role grants: create leases, get/update the one named.
 */
import { KubernetesApiError } from '../../errors.js';
import type { KubeObject, KubeObjects } from '../../cluster/index.js';

interface LeaseObject extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** How an elector runs. */
export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** This candidate (the pod name). */
  identity: string;
  leaseDurationSeconds?: number;
  retryMs?: number;
  /** Called when this candidate becomes leader, and when it stops being one. */
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  log?: (line: string) => void;
  now?: () => Date;
}

/** RFC 3339 with microseconds, the MicroTime format the Lease API takes. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** One candidate in the election. */
export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private readonly duration: number;
  private readonly retryMs: number;
  private readonly renewDeadlineMs: number;
  private readonly now: () => Date;

  constructor(
    private readonly objects: KubeObjects,
    private readonly o: LeaderElectionOptions,
  ) {
    this.duration = o.leaseDurationSeconds ?? 15;
    this.retryMs = o.retryMs ?? 2000;
    // client-go's defaults are 15 s lease, 10 s renew deadline, 2 s retry: two thirds of the lease.
    this.renewDeadlineMs = Math.max(this.retryMs, (this.duration * 1000 * 2) / 3);
    this.now = o.now ?? (() => new Date());
  }

  /**
   * Whether this candidate holds the Lease: it does, and renewed it within the renew deadline. The
   * second half matters to a process that was frozen or cut off: its timers may fire before its next
   * renewal attempt finds that another replica took over, and it must not act as leader meanwhile.
   */
  get isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenew <= this.renewDeadlineMs;
  }

  /** Starts trying; the first attempt runs at once. */
  start(): void {
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.retryMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      this.setLeading(await this.tryAcquireOrRenew());
    } catch (err) {
      this.o.log?.(`leader election: renewing or acquiring failed: ${(err as Error).message}`);
      // Not renewed: step down before another replica can take the Lease over (it may once the lease
      // duration has passed), as client-go's renewDeadline does, so two replicas never both lead.
      if (this.leading && Date.now() - this.lastRenew > this.renewDeadlineMs) this.setLeading(false);
    }
    this.schedule();
  }

  private lastRenew = 0;

  private setLeading(leading: boolean): void {
    if (leading) this.lastRenew = Date.now();
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.log?.(
      `leader election: ${this.o.identity} ${leading ? 'is now the leader' : 'is no longer the leader'} (lease ${this.o.namespace}/${this.o.name})`,
    );
    if (leading) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.o.namespace, name: this.o.name };
    const now = this.now();
    const lease = await this.objects.get<LeaseObject>(ref);
    if (!lease) {
      try {
        await this.objects.create({
          ...ref,
          metadata: {
            name: this.o.name,
            namespace: this.o.namespace,
            labels: { 'app.kubernetes.io/managed-by': 'meshctl', 'app.kubernetes.io/part-of': 'meshctl' },
          },
          spec: {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: this.duration,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        } as KubeObject);
        return true;
      } catch (err) {
        if (err instanceof KubernetesApiError && err.status === 409) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const mine = spec.holderIdentity === this.o.identity;
    const renewed = spec.renewTime ? Date.parse(spec.renewTime) : 0;
    const expired =
      !spec.holderIdentity || renewed + (spec.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
    if (!mine && !expired) return false;
    const next: LeaseObject = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.o.identity,
        leaseDurationSeconds: this.duration,
        renewTime: microTime(now),
        ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      await this.objects.rest.json({
        method: 'PUT',
        path: await this.objects.pathOf(ref),
        body: next,
        what: `updating lease ${this.o.namespace}/${this.o.name}`,
      });
      return true;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Stops; a leader releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.o.namespace, name: this.o.name };
    try {
      const lease = await this.objects.get<LeaseObject>(ref);
      if (lease?.spec?.holderIdentity !== this.o.identity) return;
      await this.objects.rest.json({
        method: 'PUT',
        path: await this.objects.pathOf(ref),
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', renewTime: microTime(this.now()) } },
        what: `releasing lease ${this.o.namespace}/${this.o.name}`,
      });
    } catch (err) {
      this.o.log?.(`leader election: releasing the lease failed: ${(err as Error).message}`);
    }
  }
}
