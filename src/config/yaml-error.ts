/**
 * What a YAML parse error says, without the excerpt of the file that js-yaml appends to its message. The
 * file may not be what its name suggests: a manifest or policy in a pull request can be a symbolic link to any
 * file the CI job can read (`/proc/self/environ`), and the excerpt around the first syntax error would print
 * those lines, control characters included, into the job's log. The reason and the position are enough.
 */
export function yamlErrorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { reason, mark } = err as { reason?: unknown; mark?: { line?: unknown; column?: unknown } };
  if (typeof reason !== 'string') return err.message.split('\n', 1)[0] ?? '';
  const line = typeof mark?.line === 'number' ? mark.line + 1 : undefined;
  const column = typeof mark?.column === 'number' ? mark.column + 1 : undefined;
  return line === undefined
    ? reason
    : `${reason} (line ${line}${column === undefined ? '' : `, column ${column}`})`;
}
