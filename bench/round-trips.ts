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
