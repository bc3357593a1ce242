import { raceSignal } from '../concurrency.js';

/**
 * Work that concurrent callers share (a bearer token exchange, a registry ping, a verification) while each
 * caller keeps its own deadline. A shared flight lives exactly as long as someone still waits for it: when
 * the last waiter's signal aborts, the work is aborted too (retries and backoff included), so nothing keeps
 * talking to a registry after every admission it served has been answered, and a later caller starts afresh
 * rather than joining aborted work. A waiter without a signal waits for good and so keeps the flight alive.
 */
interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
  settled: boolean;
}

export class SharedFlights<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /** Joins the flight for `key`, starting it with `start` when there is none. */
  async run(
    key: string,
    start: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    signal?.throwIfAborted();
    const flight = this.flights.get(key) ?? this.start(key, start);
    flight.waiters++;
    try {
      return await raceSignal(flight.promise, signal);
    } finally {
      flight.waiters--;
      if (flight.waiters === 0 && !flight.settled) {
        if (this.flights.get(key) === flight) this.flights.delete(key);
        flight.controller.abort(signal?.reason);
      }
    }
  }

  /** Whether work for `key` is in the air: a caller now would join it. */
  has(key: string): boolean {
    return this.flights.has(key);
  }

  /** Flights still in the air (tests). */
  get size(): number {
    return this.flights.size;
  }

  private start(key: string, start: (signal: AbortSignal) => Promise<T>): Flight<T> {
    const controller = new AbortController();
    let started: Promise<T>;
    try {
      started = start(controller.signal);
    } catch (err) {
      // A synchronous throw is a rejection like any other.
      started = Promise.reject(err as Error);
    }
    const flight: Flight<T> = {
      controller,
      waiters: 0,
      settled: false,
      promise: started.finally(() => {
        flight.settled = true;
        if (this.flights.get(key) === flight) this.flights.delete(key);
      }),
    };
    // Waiters that left see their own abort; the shared rejection must not go unhandled.
    flight.promise.catch(() => undefined);
    this.flights.set(key, flight);
    return flight;
  }
}
