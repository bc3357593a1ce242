/**
 * Requests that concurrent callers share (a bearer token exchange, a registry ping) while each caller keeps
 * its own deadline. A shared request lives exactly as long as someone still waits for it: when the last
 * waiter's signal aborts, the request is aborted too (retries and backoff included), so nothing keeps
 * talking to a registry after every admission it served has been answered. A waiter without a signal waits
 * for good and so keeps the request alive.
 */
interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
}

export class SharedFlights<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /** Joins the flight for `key`, starting it with `start` when there is none. */
  run(key: string, start: (signal: AbortSignal) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    let flight = this.flights.get(key);
    if (flight === undefined) {
      const controller = new AbortController();
      const created: Flight<T> = {
        controller,
        waiters: 0,
        promise: start(controller.signal).finally(() => {
          if (this.flights.get(key) === created) this.flights.delete(key);
        }),
      };
      // Waiters that left see their own abort; the shared rejection must not go unhandled.
      created.promise.catch(() => undefined);
      flight = created;
      this.flights.set(key, flight);
    }
    flight.waiters++;
    if (signal === undefined) return flight.promise;
    const joined = flight;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        joined.waiters--;
        if (joined.waiters === 0) {
          // Nobody waits any more: a later caller starts afresh rather than joining an aborted request.
          if (this.flights.get(key) === joined) this.flights.delete(key);
          joined.controller.abort(signal.reason);
        }
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      joined.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err as Error);
        },
      );
    });
  }

  /** Flights still in the air (tests). */
  get size(): number {
    return this.flights.size;
  }
}
