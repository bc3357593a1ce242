import { describe, expect, it } from 'vitest';
import { SharedFlights } from './shared-flights.js';

/** A flight that settles only when told to, and records whether its signal was aborted. */
function controllable() {
  let settle: (value: string) => void = () => undefined;
  const started: AbortSignal[] = [];
  const start = (signal: AbortSignal) => {
    started.push(signal);
    return new Promise<string>((resolve, reject) => {
      settle = resolve;
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  };
  return { start, started, settle: (value: string) => settle(value) };
}

describe('SharedFlights', () => {
  it('runs one flight for concurrent callers of a key and gives each the result', async () => {
    const flights = new SharedFlights<string>();
    const flight = controllable();
    const a = flights.run('k', flight.start, new AbortController().signal);
    const b = flights.run('k', flight.start, undefined);
    expect(flight.started).toHaveLength(1);
    flight.settle('token');
    expect(await Promise.all([a, b])).toEqual(['token', 'token']);
    expect(flights.size).toBe(0);
  });

  it('keeps the flight while one waiter remains, and aborts it when the last one leaves', async () => {
    const flights = new SharedFlights<string>();
    const flight = controllable();
    const first = new AbortController();
    const second = new AbortController();
    const a = flights.run('k', flight.start, first.signal);
    const b = flights.run('k', flight.start, second.signal);
    first.abort(new Error('first deadline'));
    await expect(a).rejects.toThrow('first deadline');
    expect(flight.started[0]?.aborted).toBe(false);
    second.abort(new Error('second deadline'));
    await expect(b).rejects.toThrow('second deadline');
    expect(flight.started[0]?.aborted).toBe(true);
    // A later caller starts afresh instead of joining the aborted flight.
    const c = flights.run('k', flight.start, undefined);
    expect(flight.started).toHaveLength(2);
    flight.settle('fresh');
    expect(await c).toBe('fresh');
  });

  it('never aborts a flight that a caller without a signal waits for', async () => {
    const flights = new SharedFlights<string>();
    const flight = controllable();
    const leaving = new AbortController();
    const patient = flights.run('k', flight.start, undefined);
    const a = flights.run('k', flight.start, leaving.signal);
    leaving.abort(new Error('gone'));
    await expect(a).rejects.toThrow('gone');
    expect(flight.started[0]?.aborted).toBe(false);
    flight.settle('late');
    expect(await patient).toBe('late');
  });

  it('rejects at once for an already aborted signal, starting nothing', async () => {
    const flights = new SharedFlights<string>();
    const flight = controllable();
    await expect(flights.run('k', flight.start, AbortSignal.abort(new Error('past')))).rejects.toThrow(
      'past',
    );
    expect(flight.started).toHaveLength(0);
  });
});
