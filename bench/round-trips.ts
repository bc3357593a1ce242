/** Sequential round trips: the longest chain of registry exchanges in which each began after the last ended. */
export function sequentialRoundTrips(exchanges: readonly { start: number; end: number }[]): number {
  const byStart = [...exchanges].sort((a, b) => a.start - b.start);
  const chain: number[] = [];
  let longest = 0;
  for (const [i, exchange] of byStart.entries()) {
    let before = 0;
    for (let j = 0; j < i; j++) {
      if ((byStart[j]?.end ?? Infinity) <= exchange.start) before = Math.max(before, chain[j] ?? 0);
    }
    chain[i] = before + 1;
    longest = Math.max(longest, before + 1);
  }
  return longest;
}

/**
 * Sequential round trips of the image that needed the most, when several images were verified at once: the
 * calls are grouped by the repository they concerned. Counted over all of them together, a request of one
 * image that happened to start after a request of another would be chained to it, though it did not wait.
 */
export function roundTripsPerImage(
  calls: readonly { start: number; end: number; repository: string }[],
): number {
  const byRepository = new Map<string, { start: number; end: number }[]>();
  for (const call of calls)
    byRepository.set(call.repository, [...(byRepository.get(call.repository) ?? []), call]);
  return Math.max(0, ...[...byRepository.values()].map(sequentialRoundTrips));
}
