/** The bench's output: tables whose last column states each goal and whether this run met it. */

export interface Goal {
  readonly text: string;
  /** undefined: informational, nothing to meet. */
  readonly met?: boolean;
}

export interface Row {
  readonly what: string;
  readonly cells: readonly string[];
  readonly goal?: Goal;
}

export function goal(text: string, met: boolean): Goal {
  return { text, met };
}

function goalCell(g: Goal | undefined): string {
  if (g === undefined) return '';
  return g.met === undefined ? g.text : `${g.met ? 'met' : 'NOT met'}: ${g.text}`;
}

export function table(title: string, header: readonly string[], rows: readonly Row[]): string {
  const width = Math.max(title.length, ...rows.map((r) => r.what.length + 2));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r.cells[i] ?? '').length)));
  const line = (first: string, cells: readonly string[], last: string) =>
    `${first.padEnd(width)}  ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')}  ${last}`.trimEnd();
  return [
    line(title, header, 'goal'),
    ...rows.map((r) => line(`  ${r.what}`, r.cells, goalCell(r.goal))),
  ].join('\n');
}

/** `a` and `b` each measured twice, interleaved (a, b, a, b) so that machine noise falls on both: their means. */
export async function interleavedMeans(
  a: () => number | Promise<number>,
  b: () => number | Promise<number>,
): Promise<[number, number]> {
  const [a1, b1, a2, b2] = [await a(), await b(), await a(), await b()];
  return [(a1 + a2) / 2, (b1 + b2) / 2];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function ms(value: number): string {
  return `${value.toFixed(value >= 100 ? 0 : value >= 1 ? 1 : 2)} ms`;
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

export function ratio(value: number): string {
  return `${value.toFixed(2)}x`;
}
