// Docker image references, as the distribution project's reference grammar
// defines them:
//
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [ domain "/" ] path-component ( "/" path-component )*
//   domain    := host [ ":" port ]
//
// Docker Hub is special: a name without a domain, or with one of Hub's three
// spellings, lives on Docker Hub, and a one-component Hub path is an "official
// image" under `library/`. The registry itself answers at registry-1.docker.io.

import { InvalidReferenceError } from '../errors.ts';
import { isValidDigest } from '../oci/digest.ts';

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The longest name (domain and path) the distribution grammar accepts. */
export const NAME_MAX_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME =
  /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]{1,5}$/;
const TAG = /^[\w][\w.-]{0,127}$/;
// Whitespace and C0/C1 control characters, which no part of a reference allows.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
const FORBIDDEN_CHARS = /[\s\u0000-\u001f\u007f-\u009f]/;

export interface ImageReference {
  /** `docker.io` for Docker Hub, otherwise the lower-cased `host[:port]`. */
  readonly registry: string;
  /** The repository path on that registry, with `library/` added for Hub official images. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.has(registry.toLowerCase());
}

/** Splits `host[:port]` and checks both parts; returns the lower-cased domain. */
export function parseDomain(input: string, domain: string): string {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    host = domain.slice(0, end + 1);
    const rest = domain.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':'))
        throw new InvalidReferenceError(input, `invalid registry host "${domain}"`);
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(host))
      throw new InvalidReferenceError(input, `invalid registry host "${domain}"`);
  } else {
    const colon = domain.lastIndexOf(':');
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (!DOMAIN_NAME.test(host)) {
      throw new InvalidReferenceError(input, `invalid registry host "${host}"`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535 || Number(port) === 0)) {
    throw new InvalidReferenceError(input, `invalid registry port "${port}"`);
  }
  return domain.toLowerCase();
}

/**
 * Whether the first path component names a registry rather than a Hub
 * namespace. (Docker also takes an upper-case first component for a host; we
 * do not: `Bitnami/x` is far likelier a mistyped Hub name, and is rejected.)
 */
function looksLikeDomain(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

function checkPath(input: string, path: string): void {
  if (path === '') throw new InvalidReferenceError(input, 'repository path is empty');
  for (const component of path.split('/')) {
    if (component === '') {
      throw new InvalidReferenceError(
        input,
        'repository path has an empty component ("//" or a leading or trailing "/")',
      );
    }
    if (component.toLowerCase() !== component) {
      throw new InvalidReferenceError(input, `repository name must be lowercase ("${component}")`);
    }
    if (!PATH_COMPONENT.test(component)) {
      throw new InvalidReferenceError(
        input,
        `invalid path component "${component}": only a-z, 0-9 and single separators ".", "_", "__" or "-" between them are allowed`,
      );
    }
  }
}

export function parseReference(input: string): ImageReference {
  if (input === '') throw new InvalidReferenceError(input, 'reference is empty');
  if (FORBIDDEN_CHARS.test(input)) {
    throw new InvalidReferenceError(input, 'contains whitespace or control characters');
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) {
      throw new InvalidReferenceError(
        input,
        `invalid digest "${digest}": expected sha256:<64 lower-case hex> or sha512:<128 lower-case hex>`,
      );
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) {
      throw new InvalidReferenceError(
        input,
        `invalid tag "${tag}": 1 to 128 characters of A-Z, a-z, 0-9, "_", "." or "-", not starting with "." or "-"`,
      );
    }
  }

  let registry = DOCKER_HUB;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0 && looksLikeDomain(rest.slice(0, firstSlash))) {
    registry = parseDomain(input, rest.slice(0, firstSlash));
    repository = rest.slice(firstSlash + 1);
  }
  checkPath(input, repository);

  if (isDockerHub(registry)) {
    registry = DOCKER_HUB;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }

  const nameLength = registry.length + 1 + repository.length;
  if (nameLength > NAME_MAX_LENGTH) {
    throw new InvalidReferenceError(
      input,
      `name is ${nameLength} characters long; the limit is ${NAME_MAX_LENGTH}`,
    );
  }
  return {
    registry,
    repository,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

/** The fully qualified form: `docker.io/library/alpine:3.20@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** What to ask the registry for: the digest when there is one, else the tag, else `latest`. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
