/**
 * A preload for child processes that must stay off the network:
 *
 *   node --import tsx --import ./test/integration/keyless/network-guard.ts src/cli/main.ts …
 *
 * Every outbound TCP/TLS connection (`net.Socket.prototype.connect`, which net.connect, tls.connect, undici
 * and fetch all end in) and every name resolution (`dns.lookup`, `dns.resolve*`, and their promise forms) is
 * recorded. Loopback targets go through; anything else is refused before a packet leaves (ECONNREFUSED,
 * ENOTFOUND), so an attempt cannot succeed by accident on a machine that happens to be online. On exit the
 * record is written as JSON to $NETWORK_GUARD_LOG for the test to judge.
 */
import dns from 'node:dns';
import { writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

export interface NetworkAttempt {
  readonly kind: 'connect' | 'lookup';
  /** `host:port` for connections, the name for lookups, `ipc:<path>` for Unix sockets. */
  readonly target: string;
  readonly allowed: boolean;
}

const logFile = process.env['NETWORK_GUARD_LOG'];
if (logFile === undefined || logFile === '') throw new Error('network-guard: set NETWORK_GUARD_LOG');

const attempts: NetworkAttempt[] = [];
process.on('exit', () => writeFileSync(logFile, JSON.stringify(attempts)));

const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|::1|::ffff:127(?:\.\d{1,3}){3}|localhost)$/i;
const isLoopback = (host: string): boolean => LOOPBACK.test(host.replace(/^\[|\]$/g, ''));

function refusal(code: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`network-guard: ${what} refused (only loopback is reachable)`), { code });
}

interface ConnectTarget {
  readonly host?: string;
  readonly port?: unknown;
  readonly path?: string;
}

// net.connect hands Socket#connect its arguments already normalised as [options, callback].
function connectTarget(args: unknown[]): ConnectTarget {
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) return first as ConnectTarget;
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first };
  return { port: first, ...(typeof args[1] === 'string' ? { host: args[1] } : {}) };
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const target = connectTarget(args);
  if (target.path !== undefined) {
    attempts.push({ kind: 'connect', target: `ipc:${target.path}`, allowed: true });
  } else {
    const host = target.host ?? 'localhost';
    const allowed = isLoopback(host);
    attempts.push({ kind: 'connect', target: `${host}:${String(target.port)}`, allowed });
    if (!allowed) {
      process.nextTick(() => this.destroy(refusal('ECONNREFUSED', `connection to ${host}`)));
      return this;
    }
  }
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof connect;

type Callback = (err: NodeJS.ErrnoException | null, ...results: unknown[]) => void;

function guardCallbackApi(api: Record<string, unknown>, name: string): void {
  const original = api[name];
  if (typeof original !== 'function') return;
  api[name] = function guarded(this: unknown, hostname: unknown, ...rest: unknown[]) {
    const host = String(hostname);
    const allowed = isLoopback(host);
    attempts.push({ kind: 'lookup', target: host, allowed });
    if (!allowed) {
      const callback = rest.findLast((arg) => typeof arg === 'function') as Callback | undefined;
      process.nextTick(() => callback?.(refusal('ENOTFOUND', `lookup of ${host}`)));
      return undefined;
    }
    return (original as (...a: unknown[]) => unknown).call(this, hostname, ...rest);
  };
}

function guardPromiseApi(api: Record<string, unknown>, name: string): void {
  const original = api[name];
  if (typeof original !== 'function') return;
  api[name] = function guarded(this: unknown, hostname: unknown, ...rest: unknown[]) {
    const host = String(hostname);
    const allowed = isLoopback(host);
    attempts.push({ kind: 'lookup', target: host, allowed });
    if (!allowed) return Promise.reject(refusal('ENOTFOUND', `lookup of ${host}`));
    return (original as (...a: unknown[]) => unknown).call(this, hostname, ...rest);
  };
}

const resolvers = (api: object): string[] =>
  Object.keys(api).filter((name) => name === 'lookup' || name.startsWith('resolve'));
for (const name of resolvers(dns)) guardCallbackApi(dns as unknown as Record<string, unknown>, name);
for (const name of resolvers(dns.promises)) {
  guardPromiseApi(dns.promises as unknown as Record<string, unknown>, name);
}
// `import { lookup } from 'node:dns'` binds to the ESM namespace, which is a copy: refresh it.
syncBuiltinESMExports();
