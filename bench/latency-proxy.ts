/**
 * A TCP proxy on loopback that puts a network distance between a client and a local registry: every chunk
 * is held for half the round-trip time in each direction, and a new connection's first request waits one
 * more round trip, as the TCP handshake would make it. Plain bytes in and out, so whatever speaks HTTP
 * through it (Provenant, cosign) pays the same distance for each request and each connection it opens.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface LatencyProxy {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  /** Round-trip time for connections opened from now on. */
  setRoundTripMs(ms: number): void;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startLatencyProxy(upstream: string): Promise<LatencyProxy> {
  const [upstreamHost = '127.0.0.1', upstreamPort = ''] = splitHost(upstream);
  let roundTripMs = 0;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    const rtt = roundTripMs;
    const handshakeDone = performance.now() + rtt;
    const registry = connect(Number(upstreamPort), upstreamHost);
    // Each chunk goes on as it comes: Nagle's algorithm would hold small writes (TLS and HTTP/2 control
    // frames) for the peer's delayed ACK, a 40 ms stall no real network adds.
    client.setNoDelay(true);
    registry.setNoDelay(true);
    for (const socket of [client, registry]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        registry.destroy();
      });
    }
    delayedPipe(client, registry, () => Math.max(performance.now(), handshakeDone) + rtt / 2);
    delayedPipe(registry, client, () => performance.now() + rtt / 2);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    setRoundTripMs: (ms) => {
      roundTripMs = ms;
    },
    connections: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Copies `from` to `to`, each chunk (and the end) delivered at `deliverAt()`, in order. */
function delayedPipe(from: Socket, to: Socket, deliverAt: () => number): void {
  const queue: { at: number; chunk: Buffer | null }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const drain = () => {
    timer = undefined;
    while (queue.length > 0 && (queue[0]?.at ?? 0) <= performance.now()) {
      const { chunk } = queue.shift() as { chunk: Buffer | null };
      if (chunk === null) to.end();
      else to.write(chunk);
    }
    schedule();
  };
  const schedule = () => {
    const next = queue[0];
    if (next !== undefined && timer === undefined) {
      timer = setTimeout(drain, Math.max(0, next.at - performance.now()));
    }
  };
  const enqueue = (chunk: Buffer | null) => {
    // Never before the chunk ahead of it: the delay is a distance, not a reordering.
    queue.push({ at: Math.max(deliverAt(), queue.at(-1)?.at ?? 0), chunk });
    schedule();
  };
  from.on('data', (chunk: Buffer) => enqueue(chunk));
  from.on('end', () => enqueue(null));
}

function splitHost(host: string): [string, string] {
  const colon = host.lastIndexOf(':');
  return [host.slice(0, colon), host.slice(colon + 1)];
}
