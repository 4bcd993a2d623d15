// Finding what refers to an image in the source, without downloading anything
// that is already in the target:
//
// - OCI referrers: the referrers API (one GET per subject, every page); where
//   the registry answers 404 (no API), the referrers tag schema: a HEAD of the
//   tag `sha256-<hex>`, and its index read from the target when the target
//   already holds the same bytes (a no-op re-run reads nothing from the source);
// - cosign's `sha256-<hex>.sig` / `.att` / `.sbom` tags: HEADs only (a HEAD is
//   not a Docker Hub pull); their manifests are fetched only when copied.
//
// Referrers of referrers (a signature on an SBOM) are followed to a bounded
// depth (`--referrers-depth`, default 1: the image's own; each level more costs
// two requests per referrer); signatures themselves are not asked for referrers.

import { SyncerError } from '../errors.ts';
import {
  COSIGN_KINDS,
  type CosignKind,
  classify,
  cosignTag,
  type ReferrerClass,
} from '../oci/cosign.ts';
import { parseReferrersList, type ReferrerDescriptor, referrersTag } from '../oci/referrers.ts';
import type { Manifest, RegistryClient } from '../registry/client.ts';
import {
  MAX_REFERRERS_LISTED,
  queryReferrers,
  type ReferrersAnswer,
} from '../registry/referrers.ts';
import { type ReferrersOptions, typeWanted } from './referrer-options.ts';

/** More than this many referrers of one image is refused as hostile. */
export const MAX_REFERRERS_PER_IMAGE = MAX_REFERRERS_LISTED;

export interface FoundReferrer {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** The digest it refers to. */
  readonly subject: string;
  readonly kind: ReferrerClass;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /** cosign's tag for it (`sha256-<hex>.sig`), when found that way. */
  readonly tag?: string;
  readonly via: 'api' | 'tag-schema' | 'cosign';
  readonly depth: number;
  /** Whether it passes `--referrer-types`. */
  readonly wanted: boolean;
}

export interface TagSchemaIndex {
  readonly digest: string;
  readonly manifest: Manifest;
  readonly descriptors: readonly ReferrerDescriptor[];
  /**
   * The target's referrers tag holds these very bytes: the target registry
   * checked every listed manifest was there when it accepted the index.
   */
  readonly inTarget: boolean;
}

/** What is known about registries' referrers API within one run. */
export class ReferrersState {
  readonly #support = new Map<RegistryClient, boolean>();
  readonly #probing = new Map<RegistryClient, Promise<ReferrersAnswer>>();

  /**
   * Asks a registry's referrers API, or answers "unsupported" without asking
   * once one answer said so. While a registry's first answer is pending, the
   * other images wait for it: one 404 per registry and run, not one per image.
   */
  async ask(
    client: RegistryClient,
    query: () => Promise<ReferrersAnswer>,
  ): Promise<ReferrersAnswer> {
    const pending = this.#probing.get(client);
    if (pending) await pending.catch(() => undefined);
    const known = this.#support.get(client);
    if (known === false) return { supported: false };
    if (known === true) return query();
    const running = query().then((answer) => {
      this.#support.set(client, answer.supported);
      return answer;
    });
    this.#probing.set(client, running);
    running.catch(() => this.#probing.delete(client));
    return running;
  }
}

export interface DiscoveryEnv {
  readonly source: RegistryClient;
  readonly destination: RegistryClient;
  readonly sourceRepository: string;
  readonly targetRepository: string;
  readonly options: ReferrersOptions;
  readonly state: ReferrersState;
}

export interface Discovery {
  readonly found: FoundReferrer[];
  /** By subject digest: the source's tag schema index, for copying it verbatim. */
  readonly tagSchema: Map<string, TagSchemaIndex>;
}

export function emptyDiscovery(): Discovery {
  return { found: [], tagSchema: new Map() };
}

/** Adds the referrers of `subjects` (and of theirs, to the configured depth) to `into`. */
export async function discover(
  env: DiscoveryEnv,
  subjects: readonly string[],
  into: Discovery,
  depth = 0,
): Promise<Discovery> {
  const levels = await Promise.all(subjects.map((s) => discoverSubject(env, s, depth, into)));
  const found = levels.flat();
  into.found.push(...found);
  if (into.found.length > MAX_REFERRERS_PER_IMAGE) {
    throw new SyncerError(
      'TOO_MANY_REFERRERS',
      `more than ${MAX_REFERRERS_PER_IMAGE} referrers; refusing to follow them all`,
    );
  }
  const next = found.filter((f) => f.kind !== 'signature').map((f) => f.digest);
  if (next.length > 0 && depth + 1 < env.options.depth) await discover(env, next, into, depth + 1);
  return into;
}

async function discoverSubject(
  env: DiscoveryEnv,
  subject: string,
  depth: number,
  into: Discovery,
): Promise<FoundReferrer[]> {
  const [listed, cosign] = await Promise.all([
    listOci(env, subject, into),
    Promise.all(cosignKindsAt(depth).map((kind) => probeCosign(env, subject, kind))),
  ]);
  const found: FoundReferrer[] = [];
  for (const { descriptor, via } of listed) {
    const kind = classify(descriptor.artifactType);
    found.push({
      digest: descriptor.digest,
      mediaType: descriptor.mediaType,
      size: descriptor.size,
      subject,
      kind,
      ...(descriptor.artifactType && { artifactType: descriptor.artifactType }),
      ...(descriptor.annotations && { annotations: descriptor.annotations }),
      via,
      depth,
      wanted: typeWanted(env.options, descriptor.artifactType, kind),
    });
  }
  for (const item of cosign) {
    if (!item) continue;
    const kind = classify(undefined, item.kind);
    found.push({
      digest: item.digest,
      mediaType: item.mediaType,
      size: item.size,
      subject,
      kind,
      tag: item.tag,
      via: 'cosign',
      depth,
      wanted: typeWanted(env.options, undefined, kind),
    });
  }
  return found;
}

/**
 * On the image: `.sig`, `.att` and `.sbom`. On a referrer only `.sig`: what
 * cosign makes when it signs an attachment (`cosign sign --attachment sbom`).
 */
function cosignKindsAt(depth: number): readonly CosignKind[] {
  return depth === 0 ? COSIGN_KINDS : ['sig'];
}

async function probeCosign(env: DiscoveryEnv, subject: string, kind: CosignKind) {
  const tag = cosignTag(subject, kind);
  const head = await env.source.headManifest(env.sourceRepository, tag);
  return head && { ...head, kind, tag };
}

async function listOci(
  env: DiscoveryEnv,
  subject: string,
  into: Discovery,
): Promise<{ descriptor: ReferrerDescriptor; via: 'api' | 'tag-schema' }[]> {
  const { source, sourceRepository } = env;
  // The repository exists (the image was just found in it), so a 404 says the
  // registry has no referrers API at all: it is not asked again this run.
  // Unfiltered (no `?artifactType=`): whether the image is signed, for the
  // report and the signature policy, depends on every referrer, not only on
  // those `--referrer-types` copies; the filter is applied here, per item.
  const answer = await env.state.ask(source, () =>
    queryReferrers(source, sourceRepository, subject),
  );
  if (answer.supported) return answer.descriptors.map((descriptor) => ({ descriptor, via: 'api' }));
  const head = await source.headManifest(sourceRepository, referrersTag(subject));
  if (!head) return [];
  // The same index already in the target (copied verbatim by an earlier run)
  // is read there: no manifest GET on the source when nothing changed.
  const there = await env.destination.headManifest(env.targetRepository, referrersTag(subject));
  const inTarget = there?.digest === head.digest;
  const manifest = inTarget
    ? await env.destination.getManifest(env.targetRepository, head.digest)
    : await source.getManifest(sourceRepository, head.digest);
  let descriptors: ReferrerDescriptor[];
  try {
    descriptors = parseReferrersList(
      `${sourceRepository}:${referrersTag(subject)}`,
      manifest.bytes,
    );
  } catch {
    // §Listing Referrers, fallback: a tag that is not a valid image index means no referrers.
    return [];
  }
  into.tagSchema.set(subject, { digest: head.digest, manifest, descriptors, inTarget });
  return descriptors.map((descriptor) => ({ descriptor, via: 'tag-schema' }));
}

/** Whether any signature or attestation refers to the image itself (filters aside). */
export function isSigned(discovery: Discovery): boolean {
  return discovery.found.some(
    (f) => f.depth === 0 && (f.kind === 'signature' || f.kind === 'attestation'),
  );
}
