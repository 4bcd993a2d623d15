// Copying what refers to an image, once the image is in the target (or was):
// each referrer like an image (byte for byte, digest-verified, blobs through
// the run's BlobTracker), never overwriting a tag, and the target's listing
// kept where the target has no referrers API.
//
// Into the target (OCI distribution-spec v1.1.0, spec.md):
// - a target with the referrers API indexes a manifest by its `subject` when it
//   is pushed (§Pushing Manifests with Subject): nothing more to do;
// - otherwise the client maintains the referrers tag schema (§Backwards
//   Compatibility, Unavailable Referrers API; §Referrers Tag Schema). Tags are
//   immutable here, so the tag `sha256-<hex>` is created when absent (with the
//   source's index bytes when they list exactly what was copied) and never
//   updated: referrers it does not list are reported as unlisted.
// - a cosign `.sig` tag in the target that holds another digest (upstream
//   appended a signature) is a signature change, reported, not an image failure.

import { describeError } from '../errors.ts';
import { digestOf } from '../oci/digest.ts';
import { isIndexType, OCI_INDEX } from '../oci/media-types.ts';
import {
  type ReferrerDescriptor,
  referrersIndexBytes,
  referrersTag,
  subjectInfo,
} from '../oci/referrers.ts';
import type { Manifest, RegistryClient } from '../registry/client.ts';
import { RegistryError } from '../registry/errors.ts';
import { queryReferrers } from '../registry/referrers.ts';
import {
  type Discovery,
  type DiscoveryEnv,
  discover,
  type FoundReferrer,
  isSigned,
} from './referrer-discovery.ts';

export type ReferrerStatus = 'copied' | 'exists' | 'planned' | 'skipped' | 'changed';

export interface ReferrerRecord {
  readonly digest: string;
  readonly subject: string;
  readonly kind: FoundReferrer['kind'];
  readonly artifactType?: string;
  readonly tag?: string;
  readonly via: FoundReferrer['via'];
  readonly status: ReferrerStatus;
  /** Why it was skipped, what changed, or that the target cannot list it. */
  readonly reason?: string;
  /** For a changed `.sig`: what the target's tag holds. */
  readonly targetDigest?: string;
}

/** Per image in reports and run records. */
export interface ReferrersSummary {
  readonly found: number;
  readonly copied: number;
  readonly exists: number;
  readonly planned: number;
  readonly skipped: number;
  /** Cosign tags the target holds with another digest (a signature change upstream). */
  readonly changed: number;
  /** Any signature or attestation refers to the image (or, with all platforms, to one of them). */
  readonly signed: boolean;
  readonly items: readonly ReferrerRecord[];
}

export interface SettleEnv extends DiscoveryEnv {
  readonly dryRun: boolean;
  /** Puts everything a manifest refers to into the target (the engine's blob and child copy). */
  readonly copyTree: (manifest: Manifest) => Promise<void>;
  readonly onManifestPut?: () => void;
}

type Outcome = Pick<ReferrerRecord, 'status' | 'reason' | 'targetDigest'> & {
  /** Listed, but its own subject is another manifest: not a referrer at all. */
  readonly foreign?: boolean;
};

/**
 * Copies (or, in a dry run, plans) the referrers found, after the image's own
 * outcome is known. `image` is the image's manifest when the engine has it.
 */
export async function settleReferrers(
  env: SettleEnv,
  discovery: Discovery,
  imageStatus: 'copied' | 'exists' | 'planned' | 'conflict',
  image: { digest: string; mediaType: string; manifest?: Manifest },
): Promise<ReferrersSummary> {
  if (env.options.allPlatforms && imageStatus !== 'conflict' && isIndexType(image.mediaType)) {
    const index = image.manifest ?? (await readIndex(env, image.digest, imageStatus));
    if (index.parsed.kind === 'index') {
      const platforms = index.parsed.manifests
        .filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest')
        .map((m) => m.digest);
      await discover(env, platforms, discovery);
    }
  }
  const outcomes = new Map<FoundReferrer, Outcome>();
  const pending: FoundReferrer[] = [];
  for (const item of discovery.found) {
    if (imageStatus === 'conflict')
      outcomes.set(item, { status: 'skipped', reason: 'the image was not copied (tag conflict)' });
    else if (!env.options.enabled)
      outcomes.set(item, { status: 'skipped', reason: 'referrers are off (--referrers=false)' });
    else if (!item.wanted)
      outcomes.set(item, { status: 'skipped', reason: 'not among --referrer-types' });
    else pending.push(item);
  }
  // Level by level: a referrer's own referrers follow it.
  const depths = [...new Set(pending.map((p) => p.depth))].sort((a, b) => a - b);
  for (const depth of depths) {
    const level = pending.filter((p) => p.depth === depth);
    const results = await Promise.all(
      level.map((item) =>
        // Listed by a referrers tag the target holds byte for byte: it is there.
        item.via === 'tag-schema' && discovery.tagSchema.get(item.subject)?.inTarget
          ? { status: 'exists' as const }
          : settleOne(env, item),
      ),
    );
    level.forEach((item, i) => {
      outcomes.set(item, results[i] as Outcome);
    });
  }
  if (!env.dryRun && imageStatus !== 'conflict') await listInTarget(env, discovery, outcomes);
  return summarise(discovery, outcomes);
}

async function readIndex(env: SettleEnv, digest: string, status: string): Promise<Manifest> {
  // Already in the target: read it there, not from the source (a no-op stays free of source GETs).
  return status === 'exists'
    ? env.destination.getManifest(env.targetRepository, digest)
    : env.source.getManifest(env.sourceRepository, digest);
}

async function settleOne(env: SettleEnv, item: FoundReferrer): Promise<Outcome> {
  const reference = item.tag ?? item.digest;
  const there = await env.destination.headManifest(env.targetRepository, reference);
  if (there?.digest === item.digest) return { status: 'exists' };
  if (there) {
    // Only a tag can hold another digest: cosign's, whose contents upstream replaced.
    return {
      status: item.kind === 'signature' ? 'changed' : 'skipped',
      reason: `the target's ${item.tag} holds ${there.digest}, the source's ${item.digest}; tags are immutable, so it was kept`,
      targetDigest: there.digest,
    };
  }
  if (env.dryRun) return { status: 'planned' };
  const manifest = await readIfPresent(env.source, env.sourceRepository, item.digest);
  if (!manifest) {
    // A referrers tag is kept by clients: deleting a signature leaves it listed.
    return {
      status: 'skipped',
      foreign: true,
      reason: `listed as a referrer of ${item.subject}, but the source no longer has it (404)`,
    };
  }
  // A referrers list (the tag schema's above all: any client may push it) is
  // only a claim; the manifest's own `subject` must name what it refers to.
  if (item.via !== 'cosign' && subjectInfo(manifest.bytes).subject !== item.subject) {
    return {
      status: 'skipped',
      foreign: true,
      reason: `listed as a referrer of ${item.subject}, but its subject is ${subjectInfo(manifest.bytes).subject ?? 'missing'}`,
    };
  }
  await env.copyTree(manifest);
  try {
    await env.destination.putManifest(env.targetRepository, reference, manifest);
    env.onManifestPut?.();
  } catch (error) {
    // A concurrent copy of the same job may have put the same bytes first.
    const now = await env.destination
      .headManifest(env.targetRepository, reference)
      .catch(() => undefined);
    if (now?.digest !== item.digest) throw error;
  }
  return { status: 'copied' };
}

/** A manifest by digest, or `undefined` when the registry answers 404. */
export async function readIfPresent(
  client: RegistryClient,
  repository: string,
  digest: string,
): Promise<Manifest | undefined> {
  try {
    return await client.getManifest(repository, digest);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return undefined;
    throw error;
  }
}

async function targetHasApi(env: SettleEnv, subject: string): Promise<boolean> {
  const answer = await env.state.ask(env.destination, () =>
    queryReferrers(env.destination, env.targetRepository, subject),
  );
  return answer.supported;
}

/** Creates the target's referrers tag per subject where the target has no API (never updates one). */
async function listInTarget(
  env: SettleEnv,
  discovery: Discovery,
  outcomes: Map<FoundReferrer, Outcome>,
): Promise<void> {
  const bySubject = new Map<string, FoundReferrer[]>();
  for (const item of discovery.found) {
    const status = outcomes.get(item)?.status;
    if (item.via === 'cosign' || (status !== 'copied' && status !== 'exists')) continue;
    bySubject.set(item.subject, [...(bySubject.get(item.subject) ?? []), item]);
  }
  for (const [subject, items] of bySubject) {
    const tag = referrersTag(subject);
    const fromSource = discovery.tagSchema.get(subject);
    if (fromSource?.inTarget) continue;
    if (await targetHasApi(env, subject)) return;
    const there = await env.destination.headManifest(env.targetRepository, tag);
    if (there && there.digest === fromSource?.digest) continue;
    let listed: Set<string>;
    if (there) {
      const index = await env.destination.getManifest(env.targetRepository, tag);
      listed = new Set(
        index.parsed.kind === 'index' ? index.parsed.manifests.map((m) => m.digest) : [],
      );
    } else {
      const wanted = new Set(items.map((i) => i.digest));
      const verbatim =
        fromSource &&
        fromSource.descriptors.length === wanted.size &&
        fromSource.descriptors.every((d) => wanted.has(d.digest));
      const manifest = verbatim ? fromSource.manifest : indexOf(items);
      try {
        await env.destination.putManifest(env.targetRepository, tag, manifest);
        env.onManifestPut?.();
        listed = wanted;
      } catch (error) {
        listed = new Set();
        for (const item of items)
          outcomes.set(item, {
            ...(outcomes.get(item) as Outcome),
            reason: `not listed: creating the target's referrers tag ${tag} failed: ${describeError(error)}`,
          });
        continue;
      }
    }
    for (const item of items) {
      if (listed.has(item.digest)) continue;
      outcomes.set(item, {
        ...(outcomes.get(item) as Outcome),
        reason: `not listed: the target has no referrers API and its referrers tag ${tag} exists with other contents; tags are immutable, so it was not updated`,
      });
    }
  }
}

function indexOf(
  items: readonly FoundReferrer[],
): Pick<Manifest, 'bytes' | 'mediaType' | 'digest'> {
  const descriptors: ReferrerDescriptor[] = items.map((i) => ({
    mediaType: i.mediaType,
    digest: i.digest,
    size: i.size,
    ...(i.artifactType && { artifactType: i.artifactType }),
    ...(i.annotations && { annotations: i.annotations }),
  }));
  const bytes = referrersIndexBytes(descriptors);
  return {
    bytes,
    mediaType: OCI_INDEX,
    digest: digestOf(bytes),
  };
}

function summarise(discovery: Discovery, outcomes: Map<FoundReferrer, Outcome>): ReferrersSummary {
  const items: ReferrerRecord[] = discovery.found.map((f) => {
    const outcome = outcomes.get(f) ?? { status: 'skipped' as const };
    return {
      digest: f.digest,
      subject: f.subject,
      kind: f.kind,
      ...(f.artifactType && { artifactType: f.artifactType }),
      ...(f.tag && { tag: f.tag }),
      via: f.via,
      status: outcome.status,
      ...(outcome.reason && { reason: outcome.reason }),
      ...(outcome.targetDigest && { targetDigest: outcome.targetDigest }),
    };
  });
  const count = (status: ReferrerStatus) => items.filter((i) => i.status === status).length;
  return {
    found: items.length,
    copied: count('copied'),
    exists: count('exists'),
    planned: count('planned'),
    skipped: count('skipped'),
    changed: count('changed'),
    // What turned out to refer to something else does not sign this image.
    signed: isSigned({
      ...discovery,
      found: discovery.found.filter((f) => !outcomes.get(f)?.foreign),
    }),
    items,
  };
}
