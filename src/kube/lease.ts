/**
 * Leader election over a coordination.k8s.io/v1 Lease, so that of several replicas exactly one runs the
 * background re-verification (they all answer admissions). The holder renews the Lease every
 * `renewIntervalMs`; another replica takes it over once `leaseDurationMs` has passed since the last renewal.
 * Every write carries the resourceVersion it read (compare-and-swap), so two replicas racing for an expired
 * Lease cannot both win. A holder that cannot renew within the lease duration stops leading on its own,
 * before anyone else can have taken over. On stop, the holder releases the Lease so a successor need not wait.
 *
 * RBAC: get, create and update on leases in the release namespace.
 */
import { systemClock, type Clock } from '../clock.js';
import { describeError, type LogSink } from './log.js';

export interface LeaseRecord {
  readonly resourceVersion: string;
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: Date;
  readonly renewTime?: Date;
  readonly leaseTransitions?: number;
}

export interface LeaseSpec {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: Date;
  readonly renewTime: Date;
  readonly leaseTransitions: number;
}

/** The Lease API as the elector needs it; client.ts implements it with client-node. */
export interface LeaseApi {
  read(namespace: string, name: string): Promise<LeaseRecord | undefined>;
  create(namespace: string, name: string, spec: LeaseSpec): Promise<'created' | 'conflict'>;
  /** A full update conditional on `resourceVersion`. */
  replace(
    namespace: string,
    name: string,
    resourceVersion: string,
    spec: LeaseSpec,
  ): Promise<'updated' | 'conflict'>;
}

export interface LeaderElectorOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  readonly name: string;
  /** Unique per replica: the Pod name, plus something random so a restarted Pod is a new holder. */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewIntervalMs?: number;
  readonly clock?: Clock;
  readonly logger: LogSink;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
}

export class LeaderElector {
  readonly #o: LeaderElectorOptions;
  readonly #durationMs: number;
  readonly #renewMs: number;
  readonly #clock: Clock;
  #leading = false;
  /** The renewTime of this replica's last successful write as holder: when it asked, not when answered. */
  #renewedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Steps down at the deadline of the last renewal, whether or not a request is still unanswered. */
  #lapse: NodeJS.Timeout | undefined;
  #stopped = true;
  #cycle: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#o = options;
    this.#durationMs = options.leaseDurationMs ?? 15_000;
    this.#renewMs = options.renewIntervalMs ?? 5_000;
    this.#clock = options.clock ?? systemClock;
    if (this.#renewMs >= this.#durationMs) throw new RangeError('renew the lease more often than it lasts');
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop();
  }

  /** Stops campaigning; a holder gives the Lease up (empty holder) so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#lapse);
    await this.#cycle;
    if (!this.#leading) return;
    this.#setLeading(false);
    try {
      const lease = await this.#o.api.read(this.#o.namespace, this.#o.name);
      if (lease?.holderIdentity === this.#o.identity) {
        const now = new Date(this.#clock.now());
        await this.#o.api.replace(this.#o.namespace, this.#o.name, lease.resourceVersion, {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: lease.acquireTime ?? now,
          renewTime: now,
          leaseTransitions: lease.leaseTransitions ?? 0,
        });
      }
    } catch (err) {
      this.#o.logger.debug({ lease: this.#where(), ...describeError(err) }, 'releasing the lease failed');
    }
  }

  /** One attempt to acquire or renew; exposed for tests, the loop calls it. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity } = this.#o;
    const now = this.#clock.now();
    const spec = (acquireTime: Date, transitions: number): LeaseSpec => ({
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#durationMs / 1000),
      acquireTime,
      renewTime: new Date(now),
      leaseTransitions: transitions,
    });
    const lease = await api.read(namespace, name);
    if (lease === undefined) {
      return (await api.create(namespace, name, spec(new Date(now), 0))) === 'created';
    }
    const mine = lease.holderIdentity === identity;
    if (!mine && !this.#expired(lease, now)) return false;
    const transitions = (lease.leaseTransitions ?? 0) + (mine ? 0 : 1);
    const acquired = mine ? (lease.acquireTime ?? new Date(now)) : new Date(now);
    return (
      (await api.replace(namespace, name, lease.resourceVersion, spec(acquired, transitions))) === 'updated'
    );
  }

  #expired(lease: LeaseRecord, now: number): boolean {
    if (lease.holderIdentity === undefined || lease.holderIdentity === '') return true;
    const renewed = lease.renewTime?.getTime() ?? lease.acquireTime?.getTime();
    if (renewed === undefined || Number.isNaN(renewed)) return true;
    const duration = (lease.leaseDurationSeconds ?? Math.ceil(this.#durationMs / 1000)) * 1000;
    return renewed + duration < now;
  }

  #loop(): void {
    this.#cycle = (async () => {
      // Others count the Lease from the renewTime written, which is when this attempt began.
      const asked = this.#clock.now();
      try {
        if (await this.tryAcquireOrRenew()) {
          // An answer that came after the deadline renewed nothing this replica may still lead on.
          if (this.#clock.now() - asked < this.#durationMs - this.#renewMs) {
            this.#renewedAt = asked;
            if (!this.#leading && !this.#stopped) this.#setLeading(true);
            this.#armLapse();
          }
        } else if (this.#leading) {
          // Someone else holds it now: our renewals lost a race we should never be in.
          this.#setLeading(false);
        }
      } catch (err) {
        this.#o.logger.warn({ lease: this.#where(), ...describeError(err) }, 'lease request failed');
      }
      // Renewals failing for a whole lease duration: another replica may take over now, so stop first.
      if (this.#leading && this.#clock.now() - this.#renewedAt >= this.#durationMs - this.#renewMs) {
        this.#setLeading(false);
      }
    })();
    void this.#cycle.finally(() => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.#loop(), this.#renewMs);
      this.#timer.unref();
    });
  }

  /**
   * A request to the API server may never be answered (a connection that hangs): the loop then waits for
   * ever, and without this timer the replica would go on leading after another took the Lease over.
   */
  #armLapse(): void {
    clearTimeout(this.#lapse);
    const deadline = this.#renewedAt + this.#durationMs - this.#renewMs;
    this.#lapse = setTimeout(
      () => {
        if (this.#leading && this.#clock.now() - this.#renewedAt >= this.#durationMs - this.#renewMs) {
          this.#setLeading(false);
        }
      },
      Math.max(0, deadline - this.#clock.now()),
    );
    this.#lapse.unref();
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#o.logger.info(
      { lease: this.#where(), identity: this.#o.identity, leading },
      leading ? 'leading the background re-verification' : 'stopped leading the background re-verification',
    );
    if (leading) this.#o.onStartedLeading();
    else this.#o.onStoppedLeading();
  }

  #where(): string {
    return `${this.#o.namespace}/${this.#o.name}`;
  }
}
