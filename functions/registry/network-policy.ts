// Where image-syncer may connect. An images file is input from whoever can
// open a pull request, so the functions must not let it point them at
// arbitrary hosts: sources must be on an allow-list of registries, and no
// connection (registry, token realm, redirect) may reach a loopback, private,
// link-local or metadata address unless the deployment allows it. The check
// happens after DNS resolution, so a public name that resolves to
// 169.254.169.254 is refused all the same. The CLI, run by a person on their
// own machine, allows everything by default but honours the same settings.

import {
  lookup as dnsLookup,
  type LookupAddress,
  type LookupAllOptions,
  type LookupOneOptions,
} from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { SyncerError } from '../errors.ts';
import { DOCKER_HUB } from '../reference/reference.ts';

/** The public registries people mirror from: the functions' default allow-list. */
export const DEFAULT_ALLOWED_REGISTRIES = [
  DOCKER_HUB,
  'ghcr.io',
  'quay.io',
  'gcr.io',
  '*.gcr.io',
  '*.pkg.dev',
  'registry.k8s.io',
  'mcr.microsoft.com',
  'public.ecr.aws',
  'registry.gitlab.com',
  'nvcr.io',
];

const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata']);

export interface NetworkPolicy {
  /** Registries sources may come from (`host`, `host:port` or `*.suffix`); `undefined` allows any. */
  readonly allowedRegistries?: readonly string[];
  /**
   * Non-public destinations: `true` allows all, `false` none, or a list of
   * what is allowed: `host`, `host:port` or a CIDR (`127.0.0.0/8`).
   */
  readonly privateNetworks: boolean | readonly string[];
}

export const OPEN_POLICY: NetworkPolicy = { privateNetworks: true };

export class BlockedDestinationError extends SyncerError {
  constructor(message: string) {
    super('BLOCKED_DESTINATION', message);
  }
}

const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** Loopback, private, link-local (metadata), CGNAT, multicast or reserved. */
export function isNonPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return NON_PUBLIC.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return false;
  return NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export function isRegistryAllowed(policy: NetworkPolicy, registry: string): boolean {
  if (!policy.allowedRegistries) return true;
  const lower = registry.toLowerCase();
  return policy.allowedRegistries.some((pattern) => {
    const p = pattern.toLowerCase();
    return p.startsWith('*.') ? lower.endsWith(p.slice(1)) : lower === p;
  });
}

function allowlisted(
  policy: NetworkPolicy,
  hostname: string,
  port: string | undefined,
  address?: string,
): boolean {
  if (policy.privateNetworks === true) return true;
  if (policy.privateNetworks === false) return false;
  const host = hostname.toLowerCase();
  return policy.privateNetworks.some((entry) => {
    if (entry.includes('/')) {
      const [net, bits] = entry.split('/') as [string, string];
      const list = new BlockList();
      const family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
      list.addSubnet(net, Number(bits), family);
      const candidate = address ?? host;
      return (
        isIP(candidate) !== 0 && list.check(candidate, isIP(candidate) === 6 ? 'ipv6' : 'ipv4')
      );
    }
    return (
      entry.toLowerCase() === host ||
      (port !== undefined && entry.toLowerCase() === `${host}:${port}`)
    );
  });
}

/**
 * Checks a URL before connecting: IP literals and metadata names here (the
 * resolver never sees them), names after resolution in `guardedLookup`.
 */
export function checkDestination(policy: NetworkPolicy, url: URL): void {
  if (policy.privateNetworks === true) return;
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (allowlisted(policy, hostname, port)) return;
  if (METADATA_NAMES.has(hostname.toLowerCase()) || hostname.toLowerCase() === 'localhost') {
    throw new BlockedDestinationError(
      `refusing to connect to ${url.host}: a metadata or loopback host (not allowed by SYNCER_ALLOW_PRIVATE_NETWORKS)`,
    );
  }
  if (isIP(hostname) !== 0 && isNonPublicAddress(hostname)) {
    throw new BlockedDestinationError(
      `refusing to connect to ${url.host}: a loopback, private, link-local or metadata address (not allowed by SYNCER_ALLOW_PRIVATE_NETWORKS)`,
    );
  }
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** The resolver behind the guard: the system's, or a test's. */
export type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** A `lookup` for the connection pool that drops non-public addresses the policy does not allow. */
export function guardedLookup(policy: NetworkPolicy, resolve: Resolver = dnsLookup) {
  return (
    hostname: string,
    options: LookupOneOptions | LookupAllOptions,
    callback: LookupCallback,
  ): void => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, []);
        return;
      }
      const usable = addresses.filter(
        (a) =>
          !isNonPublicAddress(a.address) || allowlisted(policy, hostname, undefined, a.address),
      );
      if (usable.length === 0) {
        callback(
          new BlockedDestinationError(
            `refusing to connect to ${hostname}: it resolves to ${addresses.map((a) => a.address).join(', ')}, not a public address (not allowed by SYNCER_ALLOW_PRIVATE_NETWORKS)`,
          ) as unknown as NodeJS.ErrnoException,
          [],
        );
        return;
      }
      if ((options as LookupAllOptions).all) callback(null, usable);
      else
        callback(null, (usable[0] as LookupAddress).address, (usable[0] as LookupAddress).family);
    });
  };
}
