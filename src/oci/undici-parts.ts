/**
 * The parts of undici the registry client uses, each from its own module. undici's index loads everything
 * it has (fetch, WebSocket, caches, mocks…): about 25 ms of every `provenant verify`, for an Agent, the
 * request call and the TLS connector. The types are undici's public ones (undici-modules.d.ts); the build and
 * the tests fail loudly if a future undici moves these modules.
 */
import { setFlagsFromString } from 'node:v8';
import type { Dispatcher } from 'undici';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import connector from 'undici/lib/core/connect.js';
import requestApi from 'undici/lib/api/api-request.js';

export const Agent = AgentClass;
export type Agent = InstanceType<typeof AgentClass>;
export const buildConnector = connector;

/** `dispatcher.request(options)`, which undici's index adds to every Dispatcher's prototype. */
export function request(
  dispatcher: Dispatcher,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  if (!parserTierCapped) capParserTier();
  return requestApi.call(dispatcher, options);
}

/**
 * undici parses HTTP/1.1 with llhttp, compiled to WebAssembly when the first connection opens. After a few
 * responses V8 recompiles its parser (one very large function) with its optimising tier on a background
 * thread: ~25 ms of CPU and ~8 MiB in `provenant verify`, which waits for that compile before it can exit.
 * The baseline tier parses a registry's few responses per image as well, and `serve` parses them only for
 * images it has not seen, so the optimising tier's budget is set out of reach. Set here, at the first request,
 * not at start-up: V8 code caches (Node's own modules' and the compile cache) are refused for modules compiled
 * after a flag changes, and by now the commands have loaded theirs.
 */
let parserTierCapped = false;
function capParserTier(): void {
  parserTierCapped = true;
  setFlagsFromString('--wasm-tiering-budget=1000000000');
}
