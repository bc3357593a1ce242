/**
 * The slice of a pino `Logger` that the Kubernetes-facing components use. A pino logger fits as is; tests
 * pass a recorder. Fields must never carry Secret contents or registry credentials.
 */
export interface LogSink {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Errors from client-node carry the whole response (headers included): log the status and a short text. */
export function describeError(err: unknown): { error: string; status?: number } {
  const status = statusOf(err);
  let message = err instanceof Error ? err.message : String(err);
  // undici says only "fetch failed"; the reason (ECONNREFUSED, a TLS failure) is in `cause`.
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) message += ` (${(cause as { code?: unknown }).code ?? cause.message})`;
  // ApiException messages embed the body and headers after the first line.
  const first = message.split('\n', 1)[0] ?? '';
  const text = first.length > 300 ? `${first.slice(0, 300)}…` : first;
  return status === undefined ? { error: text } : { error: text, status };
}

/** The HTTP status of a failed API call (client-node's ApiException `code`, a watch error's `statusCode`). */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const fields = err as { code?: unknown; statusCode?: unknown };
  if (typeof fields.code === 'number') return fields.code;
  if (typeof fields.statusCode === 'number') return fields.statusCode;
  return undefined;
}
