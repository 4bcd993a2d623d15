// undici, loaded lean. Its index pulls in every dispatcher, interceptor, mock
// and cache it has, which costs a CLI run about 50 ms of start-up that a
// no-op sync (two HEADs per image) notices. Only the connection pool (Agent)
// and the request API are needed, so those two modules are loaded directly;
// should undici's layout ever change, the full package is the fallback.

import { createRequire } from 'node:module';
import type { Dispatcher, Agent as UndiciAgent } from 'undici';

const require = createRequire(import.meta.url);

type RequestFn = (
  this: Dispatcher,
  options: Dispatcher.RequestOptions,
) => Promise<Dispatcher.ResponseData>;

function load(): { Agent: typeof UndiciAgent; requestFn: RequestFn } {
  try {
    return {
      Agent: require('undici/lib/dispatcher/agent.js') as typeof UndiciAgent,
      requestFn: require('undici/lib/api/api-request.js') as RequestFn,
    };
  } catch {
    const undici = require('undici') as typeof import('undici');
    return { Agent: undici.Agent, requestFn: undici.Dispatcher.prototype.request as RequestFn };
  }
}

const { Agent, requestFn } = load();

export { Agent };

export interface HttpRequest {
  readonly method: Dispatcher.HttpMethod;
  readonly headers?: Record<string, string>;
  readonly body?: Dispatcher.DispatchOptions['body'];
  readonly headersTimeout?: number;
  readonly bodyTimeout?: number;
  /** Aborts the exchange, body included. */
  readonly signal?: AbortSignal;
}

/** One HTTP exchange through `dispatcher`; the caller consumes or dumps the body. */
export function httpRequest(
  dispatcher: Dispatcher,
  url: URL,
  options: HttpRequest,
): Promise<Dispatcher.ResponseData> {
  return requestFn.call(dispatcher, {
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method: options.method,
    headers: options.headers ?? {},
    body: options.body ?? null,
    ...(options.headersTimeout !== undefined && { headersTimeout: options.headersTimeout }),
    ...(options.bodyTimeout !== undefined && { bodyTimeout: options.bodyTimeout }),
    ...(options.signal !== undefined && { signal: options.signal }),
  });
}

let shared: Dispatcher | undefined;

/** A process-wide keep-alive pool, for callers that do not manage their own. */
export function sharedDispatcher(): Dispatcher {
  shared ??= new Agent({ keepAliveTimeout: 30_000 });
  return shared;
}
