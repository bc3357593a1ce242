/**
 * The parts of undici the registry client uses, each from its own module. undici's index loads everything
 * it has (fetch, WebSocket, caches, mocks…): about 25 ms of every `provenant verify`, for an Agent, the
 * request call and the TLS connector. The types are undici's public ones (undici-modules.d.ts); the build and
 * the tests fail loudly if a future undici moves these modules.
 */
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
  return requestApi.call(dispatcher, options);
}
