const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go/Kubernetes duration (`720h`, `1h30m`, `90s`, `1.5h`) into milliseconds. Kubernetes users write
 * durations this way (metav1.Duration), so days are deliberately absent: `30d` is an error, not a guess.
 */
export function parseGoDuration(text: string): number {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) {
    throw new Error(`"${text}" is not a duration (use e.g. 720h, 1h30m, 90s)`);
  }
  let total = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(value) * (UNIT_MS[unit as string] as number);
  }
  if (total <= 0) throw new Error(`"${text}" must be longer than zero`);
  if (!Number.isSafeInteger(Math.round(total))) throw new Error(`"${text}" is too long`);
  return Math.round(total);
}

/** Renders milliseconds the way users write durations, for messages (`49h12m`). */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms / 1000));
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  const parts = [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''];
  return sign + parts.join('');
}
