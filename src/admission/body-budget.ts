/**
 * Bounds how many request-body bytes are being decoded and decided at once. JSON.parse is synchronous, so
 * parsing itself never overlaps; what piles up is the decoded objects of requests still waiting for their
 * verdicts. Eight concurrent 3 MiB bodies used to hold ~650 MiB this way. Each request holds its body's size
 * from decoding until its answer is built; a request that does not fit waits briefly, then is turned away.
 * Typical bodies (a few KiB) never wait: only near-limit bodies compete with each other.
 */

export type Release = () => void;

interface Waiter {
  readonly bytes: number;
  readonly grant: (release: Release) => void;
}

export class BodyBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  /** `capacityBytes`: total body bytes held at once; a body larger than that is admitted alone. */
  constructor(readonly capacityBytes: number) {}

  /** Bytes held now (for tests and metrics). */
  get inUse(): number {
    return this.used;
  }

  /**
   * Takes `bytes` of the budget, waiting at most `waitMs` for it. Resolves with the function that gives it
   * back (call exactly once), or undefined when the budget stayed exhausted.
   */
  acquire(bytes: number, waitMs: number): Promise<Release | undefined> {
    const size = Math.min(Math.max(bytes, 0), this.capacityBytes);
    if (this.fits(size)) return Promise.resolve(this.take(size));
    return new Promise((resolve) => {
      const waiter: Waiter = {
        bytes: size,
        grant: (release) => {
          clearTimeout(timer);
          resolve(release);
        },
      };
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at !== -1) this.waiters.splice(at, 1);
        resolve(undefined);
      }, waitMs);
      this.waiters.push(waiter);
    });
  }

  private fits(size: number): boolean {
    return this.used + size <= this.capacityBytes;
  }

  private take(size: number): Release {
    this.used += size;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= size;
      this.wake();
    };
  }

  /** Grants waiters in arrival order while they fit; a large waiter does not hold back smaller ones. */
  private wake(): void {
    for (let i = 0; i < this.waiters.length;) {
      const waiter = this.waiters[i] as Waiter;
      if (this.fits(waiter.bytes)) {
        this.waiters.splice(i, 1);
        waiter.grant(this.take(waiter.bytes));
      } else {
        i++;
      }
    }
  }
}
