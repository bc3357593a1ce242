import { describe, expect, it, vi } from 'vitest';
import { LeaderElector, type LeaseApi, type LeaseRecord, type LeaseSpec } from './lease.js';

/** An in-memory Lease with the API server's compare-and-swap on resourceVersion. */
function memoryLease(): LeaseApi & { current(): LeaseRecord | undefined; failing: boolean } {
  let lease: LeaseRecord | undefined;
  let version = 0;
  const store = (spec: LeaseSpec): LeaseRecord => ({ resourceVersion: String(++version), ...spec });
  const api = {
    failing: false,
    current: () => lease,
    read() {
      if (api.failing) return Promise.reject(new Error('API server unreachable'));
      return Promise.resolve(lease);
    },
    create(_ns: string, _name: string, spec: LeaseSpec) {
      if (lease !== undefined) return Promise.resolve('conflict' as const);
      lease = store(spec);
      return Promise.resolve('created' as const);
    },
    replace(_ns: string, _name: string, resourceVersion: string, spec: LeaseSpec) {
      if (api.failing) return Promise.reject(new Error('API server unreachable'));
      if (lease?.resourceVersion !== resourceVersion) return Promise.resolve('conflict' as const);
      lease = store(spec);
      return Promise.resolve('updated' as const);
    },
  };
  return api;
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function elector(api: LeaseApi, identity: string, clock: { now(): number }) {
  const events: string[] = [];
  const e = new LeaderElector({
    api,
    namespace: 'provenant-system',
    name: 'provenant-background',
    identity,
    leaseDurationMs: 15_000,
    renewIntervalMs: 5_000,
    clock,
    logger: silent,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  return { e, events };
}

describe('LeaderElector', () => {
  it('lets exactly one of two replicas hold the lease, and the other take over once it expires', async () => {
    let now = 1_000_000;
    const clock = { now: () => now };
    const api = memoryLease();
    const a = elector(api, 'a', clock);
    const b = elector(api, 'b', clock);
    expect(await a.e.tryAcquireOrRenew()).toBe(true);
    expect(await b.e.tryAcquireOrRenew()).toBe(false);
    now += 5_000;
    expect(await a.e.tryAcquireOrRenew()).toBe(true);
    expect(api.current()).toMatchObject({ holderIdentity: 'a', leaseTransitions: 0 });
    // a stops renewing (crashed); b waits out the lease duration from a's last renewal.
    now += 14_000;
    expect(await b.e.tryAcquireOrRenew()).toBe(false);
    now += 2_000;
    expect(await b.e.tryAcquireOrRenew()).toBe(true);
    expect(api.current()).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 1,
      leaseDurationSeconds: 15,
    });
    expect(await a.e.tryAcquireOrRenew()).toBe(false);
  });

  it('lets only one of two replicas win a race for an expired lease', async () => {
    const clock = { now: () => 5_000_000 };
    const api = memoryLease();
    const results = await Promise.all(['a', 'b'].map((id) => elector(api, id, clock).e.tryAcquireOrRenew()));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('starts and stops leading, and hands the lease over at once on stop', async () => {
    let now = 0;
    const clock = { now: () => now };
    const api = memoryLease();
    const a = elector(api, 'a', clock);
    a.e.start();
    await until(() => a.e.leading);
    expect(a.events).toEqual(['started']);
    await a.e.stop();
    expect(a.events).toEqual(['started', 'stopped']);
    expect(api.current()?.holderIdentity).toBe('');
    const b = elector(api, 'b', clock);
    now += 1;
    expect(await b.e.tryAcquireOrRenew()).toBe(true);
  });

  it('stops leading by itself when it cannot renew for the lease duration', async () => {
    vi.useFakeTimers();
    try {
      let now = 0;
      const clock = { now: () => now };
      const api = memoryLease();
      const a = elector(api, 'a', clock);
      a.e.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(a.e.leading).toBe(true);
      api.failing = true;
      // Renewals fail; it stops leading before the lease can have expired for the other replicas.
      now += 5_000;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(a.e.leading).toBe(true);
      now += 5_000;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(a.e.leading).toBe(false);
      expect(a.events).toEqual(['started', 'stopped']);
      await a.e.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not lead on a renewal answered after its deadline: others count from when it asked', async () => {
    vi.useFakeTimers();
    try {
      let now = 0;
      const clock = { now: () => now };
      const api = memoryLease();
      const slowRead = api.read.bind(api);
      let calls = 0;
      // The API server answers 11 s late: the Lease's renewTime is 11 s old when the answer arrives.
      api.read = (...args) => {
        calls++;
        now += 11_000;
        return slowRead(...args);
      };
      const a = elector(api, 'a', clock);
      a.e.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(calls).toBe(1);
      expect(api.current()?.holderIdentity).toBe('a');
      expect(a.e.leading).toBe(false);
      expect(a.events).toEqual([]);
      await a.e.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

/** Waits for a condition driven by the elector's own timers (bounded). */
async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
