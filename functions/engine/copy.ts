// Copying one image, the engine's unit of work:
//
//   HEAD source  → its digest (pinned if the job carries one)
//   HEAD target tag: same digest → `exists`; another digest → `conflict`
//   dry run      → `planned`
//   otherwise    → blobs, then child manifests by digest, then the top manifest by tag
//
// An existing image costs two HEADs and nothing else: no source GET (Docker Hub
// counts GETs of manifests as pulls), no write. A tag is never overwritten.

import { type ErrorCode, SyncerError } from '../errors.ts';
import { classify, classifyCode, type FailureCategory } from '../failures.ts';
import { blobsToCopy } from '../oci/manifest.ts';
import { formatReference, manifestReference } from '../reference/reference.ts';
import type { Manifest, ManifestHead, RegistryClient } from '../registry/client.ts';
import type { Registries } from '../registry/registries.ts';
import { throwIfCancelled } from '../util/abort.ts';
import type { BlobTracker } from './blobs.ts';
import { explainDrift } from './drift.ts';
import { allEnded, type Limiter } from './limiter.ts';
import { platformFailureFields, requirePlatforms } from './platforms.ts';
import { estimatePulls, pullsOf } from './pull-estimate.ts';
import type { ReferrersState } from './referrer-discovery.ts';
import type { ReferrersOptions } from './referrer-options.ts';
import { holdsManifest } from './same-manifest.ts';
import { beginSupplyChain } from './supply-chain.ts';
import type { CopyJob, CopyResult, CopyStats } from './types.ts';

/** Indexes that point at indexes are legal; this bounds a malicious chain. */
const MAX_INDEX_DEPTH = 4;

export interface CopyContext {
  readonly registries: Registries;
  readonly blobs: BlobTracker;
  readonly transfers: Limiter;
  readonly dryRun: boolean;
  readonly onBytes?: (delta: number) => void;
  /** Cancels the copy: nothing is written once it has fired. */
  readonly signal?: AbortSignal | undefined;
  readonly referrers?: ReferrersOptions;
  readonly referrersState?: ReferrersState;
}

function emptyStats(): CopyStats {
  return { blobsCopied: 0, blobsMounted: 0, blobsPresent: 0, bytesCopied: 0, manifestsPut: 0 };
}

/** The result fields of a failure, as functions/failures.ts classifies it. */
export function failureReason(error: unknown): {
  error: string;
  errorCode: ErrorCode;
  category: FailureCategory;
  retryable: boolean;
} {
  const failure = classify(error);
  return {
    error: failure.message,
    errorCode: failure.code,
    category: failure.category,
    retryable: failure.transient,
  };
}

/** The result fields of an outcome decided here (not found, conflict), classified the same way. */
function outcome(errorCode: ErrorCode, error: string) {
  const { category, transient } = classifyCode(errorCode);
  return { errorCode, category, retryable: transient, error };
}

/** One image's copy under way: both sides, where it goes, what it has moved. */
interface ImageCopy {
  readonly job: CopyJob;
  /** The result fields every outcome carries. */
  readonly base: { readonly source: string; readonly target: string };
  readonly tree: Tree;
  readonly targetTag: string;
}

type SupplyChain = Awaited<ReturnType<typeof beginSupplyChain>>;
type Found = { readonly digest: string; readonly mediaType: string };

export async function copyImage(job: CopyJob, ctx: CopyContext): Promise<CopyResult> {
  const copy = begin(job, ctx);
  const { base, tree } = copy;
  const { op } = tree;
  try {
    const wanted = job.sourceDigest ?? manifestReference(job.sourceRef);
    const sourceHead = await tree.source.headManifest(tree.sourceRepository, wanted, op);
    if (!sourceHead) return notFound(copy);
    const found = { digest: sourceHead.digest, mediaType: sourceHead.mediaType };
    // The target's tag is read while the referrers are discovered (a read, not a write).
    const targetHeading = tree.destination.headManifest(tree.targetRepository, copy.targetTag, op);
    targetHeading.catch(() => undefined);
    // Signatures and other referrers: found before any write, so that an image
    // the policy refuses leaves nothing in the target.
    const chain = await supplyChain(copy, sourceHead.digest);
    if (chain.refusal) {
      const category = chain.refusal.category;
      return { ...base, status: 'failed', ...found, ...failureReason(chain.refusal), category };
    }
    const targetHead = await targetHeading;
    // `return await`: a helper's rejection is this copy's failure, caught below.
    if (targetHead) return await alreadyTagged(copy, chain, found, targetHead);
    const required = job.platforms ?? [];
    if (ctx.dryRun && required.length === 0)
      return await planned(copy, chain, found, estimatePulls(sourceHead));
    const manifest = await tree.source.getManifest(tree.sourceRepository, sourceHead.digest, op);
    // After the HEADs, before any write: an image lacking a platform is refused whole.
    await requirePlatforms(required, tree.source, tree.sourceRepository, manifest);
    // The platform check has read the manifest already: the sync's cost is known exactly.
    if (ctx.dryRun) return await planned(copy, chain, found, pullsOf(manifest), manifest);
    return await write(copy, chain, found, manifest);
  } catch (error) {
    return {
      ...base,
      status: 'failed',
      ...failureReason(error),
      ...platformFailureFields(error),
      stats: tree.stats,
    };
  }
}

function begin(job: CopyJob, ctx: CopyContext): ImageCopy {
  return {
    job,
    base: { source: job.source, target: formatReference(job.target) },
    tree: {
      source: ctx.registries.client(job.sourceRef.registry),
      destination: ctx.registries.client(job.target.registry),
      sourceRepository: job.sourceRef.repository,
      targetRepository: job.target.repository,
      stats: emptyStats(),
      ctx,
      op: { signal: ctx.signal },
    },
    targetTag: job.target.tag ?? 'latest',
  };
}

function notFound({ job, base }: ImageCopy): CopyResult {
  const named = { ...job.sourceRef, ...(job.sourceDigest && { digest: job.sourceDigest }) };
  return {
    ...base,
    status: 'failed',
    ...outcome('SOURCE_NOT_FOUND', `source not found: ${formatReference(named)}`),
  };
}

function supplyChain({ job, tree }: ImageCopy, digest: string): Promise<SupplyChain> {
  const { ctx } = tree;
  return beginSupplyChain(
    {
      ...(ctx.referrers && { options: ctx.referrers }),
      ...(ctx.referrersState && { state: ctx.referrersState }),
      ...(job.requireSignature !== undefined && { requireSignature: job.requireSignature }),
      dryRun: ctx.dryRun,
      image: formatReference(job.sourceRef),
      source: tree.source,
      destination: tree.destination,
      sourceRepository: tree.sourceRepository,
      targetRepository: tree.targetRepository,
      copyTree: (m) => copyChildren(tree, m, 0),
      onManifestPut: () => tree.stats.manifestsPut++,
    },
    digest,
  );
}

/** The target tag exists: the same bytes are `exists` (checked there, no pull of the source); others a conflict. */
async function alreadyTagged(
  copy: ImageCopy,
  chain: SupplyChain,
  found: Found,
  held: ManifestHead,
): Promise<CopyResult> {
  const { tree, targetTag } = copy;
  const { destination, targetRepository, op } = tree;
  if (!(await holdsManifest(destination, targetRepository, targetTag, held, found.digest, op)))
    return conflict(copy, chain, found, held, 'already points at');
  const required = copy.job.platforms ?? [];
  if (required.length > 0) {
    const manifest = await destination.getManifest(targetRepository, held.digest, op);
    await requirePlatforms(required, destination, targetRepository, manifest);
  }
  return { ...copy.base, status: 'exists', ...found, ...(await chain.settle('exists', found)) };
}

async function planned(
  copy: ImageCopy,
  chain: SupplyChain,
  found: Found,
  pulls: number,
  manifest?: Manifest,
): Promise<CopyResult> {
  const settled = await chain.settle('planned', { ...found, ...(manifest && { manifest }) });
  return { ...copy.base, status: 'planned', ...found, ...settled, pulls };
}

async function conflict(
  { job, base, tree, targetTag }: ImageCopy,
  chain: SupplyChain,
  found: Found,
  held: ManifestHead,
  how: string,
): Promise<CopyResult> {
  return {
    ...base,
    status: 'conflict',
    ...found,
    ...(await chain.settle('conflict', found)),
    targetDigest: held.digest,
    ...outcome(
      'TAG_CONFLICT',
      `${base.target} ${how} ${held.digest}, not the source's ${found.digest}; tags are immutable, so it was left as it is`,
    ),
    drift: await explainDrift({
      written: job.source,
      tag: targetTag,
      source: tree.source,
      sourceRepository: tree.sourceRepository,
      sourceDigest: found.digest,
      target: tree.destination,
      targetRepository: tree.targetRepository,
      targetDigest: held.digest,
    }),
  };
}

/** Blobs, child manifests, then the tag: the only writes of a copy, the tag last. */
async function write(
  copy: ImageCopy,
  chain: SupplyChain,
  found: Found,
  manifest: Manifest,
): Promise<CopyResult> {
  const { tree, targetTag } = copy;
  const { destination, targetRepository, stats, op } = tree;
  await copyChildren(tree, manifest, 0);
  try {
    throwIfCancelled(op.signal);
    await destination.putManifest(targetRepository, targetTag, manifest, op);
    stats.manifestsPut++;
  } catch (error) {
    throwIfCancelled(op.signal);
    // The tag may have been set meanwhile: by another copy of the same job
    // (then it holds exactly our digest and the job is done all the same),
    // or by another writer. Artifact Registry with immutable tags refuses
    // the PUT with 400 MANIFEST_INVALID "cannot update tag … tag
    // immutability" (https://cloud.google.com/artifact-registry/docs/docker/names#versions,
    // https://cloud.google.com/artifact-registry/docs/repositories/update-repo-settings):
    // the tag is looked at again and another digest there is a conflict,
    // never a retried failure and never `copied`.
    const now = await destination
      .headManifest(targetRepository, targetTag, op)
      .catch(() => undefined);
    if (!now) throw error;
    if (!(await holdsManifest(destination, targetRepository, targetTag, now, manifest.digest, op)))
      return conflict(copy, chain, found, now, 'was set meanwhile by another writer to');
  }
  return {
    ...copy.base,
    status: 'copied',
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    ...(await chain.settle('copied', { ...found, manifest })),
    stats,
  };
}

interface Tree {
  readonly source: RegistryClient;
  readonly destination: RegistryClient;
  readonly sourceRepository: string;
  readonly targetRepository: string;
  readonly stats: CopyStats;
  readonly ctx: CopyContext;
  /** The options of every request: the copy's cancellation. */
  readonly op: { readonly signal: AbortSignal | undefined };
}

/** Puts everything `manifest` refers to into the target, leaving the manifest itself to the caller. */
async function copyChildren(tree: Tree, manifest: Manifest, depth: number): Promise<void> {
  const parsed = manifest.parsed;
  if (parsed.kind === 'manifest') {
    // Largest first: the long transfers start early and overlap the short ones.
    const blobs = blobsToCopy(parsed).sort((a, b) => b.size - a.size);
    const priority = blobs[0]?.size ?? 0;
    // Every transfer ends before the image does, failed or not (allEnded).
    await allEnded(
      blobs.map((blob) =>
        tree.ctx.blobs.ensure(
          {
            source: tree.source,
            sourceRepository: tree.sourceRepository,
            target: tree.destination,
            targetRepository: tree.targetRepository,
            stats: tree.stats,
            transfers: tree.ctx.transfers,
            ...(tree.ctx.onBytes && { onBytes: tree.ctx.onBytes }),
            ...(tree.ctx.signal && { signal: tree.ctx.signal }),
          },
          blob,
          priority,
        ),
      ),
    );
    return;
  }
  if (depth >= MAX_INDEX_DEPTH) {
    throw new SyncerError('INDEX_TOO_DEEP', `index nesting deeper than ${MAX_INDEX_DEPTH} levels`);
  }
  // Every child of an index (all platforms, attestations included) is copied,
  // by digest, before the index: a registry refuses an index whose children it lacks.
  const { op } = tree;
  await allEnded(
    parsed.manifests.map(async (child) => {
      if (await tree.destination.headManifest(tree.targetRepository, child.digest, op)) return;
      const childManifest = await tree.source.getManifest(tree.sourceRepository, child.digest, op);
      await copyChildren(tree, childManifest, depth + 1);
      throwIfCancelled(op.signal);
      await tree.destination.putManifest(tree.targetRepository, child.digest, childManifest, op);
      tree.stats.manifestsPut++;
    }),
  );
}
