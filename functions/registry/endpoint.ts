// Which URL a registry is reached at. Docker Hub's logical name (docker.io)
// answers at registry-1.docker.io. Plain HTTP is used only for loopback hosts
// and hosts the user listed as insecure; everything else is HTTPS. An explicit
// endpoint (`--registry-endpoint docker.io=https://mirror.gcr.io`) redirects a
// registry's traffic without changing target names.

import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';
import { DOCKER_HUB, DOCKER_HUB_ENDPOINT, isDockerHub } from '../reference/reference.ts';

export function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 && !host.slice(0, colon).includes(':') ? host.slice(0, colon) : host;
}

export function isLoopbackHost(host: string): boolean {
  const name = hostnameOf(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1';
  return false;
}

export interface EndpointOptions {
  /** Logical registry (as in references, `docker.io` for Hub) → base URL. */
  readonly endpoints?: ReadonlyMap<string, string>;
  /** Hosts (`host` or `host:port`) that may be reached over plain HTTP. */
  readonly insecureRegistries?: readonly string[];
}

export function mayUsePlainHttp(host: string, insecure: readonly string[] = []): boolean {
  const lower = host.toLowerCase();
  return (
    isLoopbackHost(lower) ||
    insecure.some((h) => h.toLowerCase() === lower || h.toLowerCase() === hostnameOf(lower))
  );
}

/** Parses `REGISTRY=URL`, as given to --registry-endpoint. */
export function parseEndpointFlag(value: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new ConfigError(`"${value}": expected REGISTRY=URL`);
  let registry = value.slice(0, eq).trim().toLowerCase();
  const url = value.slice(eq + 1).trim();
  if (isDockerHub(registry)) registry = DOCKER_HUB;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`"${value}": "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`"${value}": the URL must be http:// or https://`);
  }
  if (parsed.username || parsed.password) {
    throw new ConfigError(
      `the endpoint of ${registry}: put credentials in Docker's config.json, not in the URL`,
    );
  }
  return [registry, `${parsed.protocol}//${parsed.host}`];
}

/** Parses `REGISTRY=HOST[:PORT]`, as given to --registry-auth-host. */
export function parseAuthHostFlag(value: string): [string, string] {
  const eq = value.indexOf('=');
  const host = value
    .slice(eq + 1)
    .trim()
    .toLowerCase();
  if (eq <= 0 || host === '' || host.includes('/')) {
    throw new ConfigError(`"${value}": expected REGISTRY=HOST or REGISTRY=HOST:PORT`);
  }
  let registry = value.slice(0, eq).trim().toLowerCase();
  if (isDockerHub(registry)) registry = DOCKER_HUB;
  return [registry, host];
}

/** Every `REGISTRY=HOST` of a repeatable flag, grouped by registry. */
export function parseAuthHosts(values: readonly string[]): Map<string, string[]> {
  const byRegistry = new Map<string, string[]>();
  for (const [registry, host] of values.map(parseAuthHostFlag)) {
    byRegistry.set(registry, [...(byRegistry.get(registry) ?? []), host]);
  }
  return byRegistry;
}

/** The base URL (`scheme://host[:port]`) for a logical registry. */
export function endpointFor(registry: string, options: EndpointOptions = {}): URL {
  const configured = options.endpoints?.get(registry);
  const url = configured
    ? new URL(configured)
    : new URL(
        `${mayUsePlainHttp(registry, options.insecureRegistries) ? 'http' : 'https'}://${
          registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry
        }`,
      );
  if (url.protocol === 'http:' && !mayUsePlainHttp(url.host, options.insecureRegistries)) {
    throw new ConfigError(
      `refusing plain HTTP to ${url.host}: only loopback hosts and hosts given with --insecure-registry may use http://`,
    );
  }
  return url;
}
