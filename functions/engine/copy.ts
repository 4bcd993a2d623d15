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
import type { Limiter } from './limiter.ts';
import { platformFailureFields, requirePlatforms } from './platforms.ts';
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

export async function copyImage(job: CopyJob, ctx: CopyContext): Promise<CopyResult> {
  const target = formatReference(job.target);
  const base = { source: job.source, target };
  const stats = emptyStats();
  const signal = ctx.signal;
  const op = { signal };
  try {
    const source = ctx.registries.client(job.sourceRef.registry);
    const destination = ctx.registries.client(job.target.registry);
    const sourceRepository = job.sourceRef.repository;
    const targetRepository = job.target.repository;
    const targetTag = job.target.tag ?? 'latest';

    const wanted = job.sourceDigest ?? manifestReference(job.sourceRef);
    const sourceHead = await source.headManifest(sourceRepository, wanted, op);
    if (!sourceHead) {
      return {
        ...base,
        status: 'failed',
        ...outcome(
          'SOURCE_NOT_FOUND',
          `source not found: ${formatReference({ ...job.sourceRef, ...(job.sourceDigest && { digest: job.sourceDigest }) })}`,
        ),
      };
    }
    const found = { digest: sourceHead.digest, mediaType: sourceHead.mediaType };
    // The target's tag is read while the referrers are discovered (a read, not a write).
    const targetHeading = destination.headManifest(targetRepository, targetTag, op);
    targetHeading.catch(() => undefined);
    // Signatures and other referrers: found before any write, so that an image
    // the policy refuses leaves nothing in the target.
    const chain = await beginSupplyChain(
      {
        ...(ctx.referrers && { options: ctx.referrers }),
        ...(ctx.referrersState && { state: ctx.referrersState }),
        ...(job.requireSignature !== undefined && { requireSignature: job.requireSignature }),
        dryRun: ctx.dryRun,
        image: formatReference(job.sourceRef),
        source,
        destination,
        sourceRepository,
        targetRepository,
        copyTree: (m) =>
          copyChildren(
            { source, destination, sourceRepository, targetRepository, stats, ctx },
            m,
            0,
          ),
        onManifestPut: () => stats.manifestsPut++,
      },
      sourceHead.digest,
    );
    if (chain.refusal) {
      const category = chain.refusal.category;
      return { ...base, status: 'failed', ...found, ...failureReason(chain.refusal), category };
    }

    const conflict = async (held: ManifestHead, how: string): Promise<CopyResult> => ({
      ...base,
      status: 'conflict',
      ...found,
      ...(await chain.settle('conflict', found)),
      targetDigest: held.digest,
      ...outcome(
        'TAG_CONFLICT',
        `${target} ${how} ${held.digest}, not the source's ${sourceHead.digest}; tags are immutable, so it was left as it is`,
      ),
      drift: await explainDrift({
        written: job.source,
        tag: targetTag,
        source,
        sourceRepository,
        sourceDigest: sourceHead.digest,
        target: destination,
        targetRepository,
        targetDigest: held.digest,
      }),
    });

    const required = job.requiredPlatforms ?? [];
    const targetHead = await targetHeading;
    if (targetHead) {
      if (
        await holdsManifest(
          destination,
          targetRepository,
          targetTag,
          targetHead,
          sourceHead.digest,
          op,
        )
      ) {
        // The same bytes are in the target: check there, which costs no pull of the source.
        if (required.length > 0) {
          const held = await destination.getManifest(targetRepository, targetHead.digest, op);
          await requirePlatforms(required, destination, targetRepository, held);
        }
        return { ...base, status: 'exists', ...found, ...(await chain.settle('exists', found)) };
      }
      return conflict(targetHead, 'already points at');
    }
    if (ctx.dryRun && required.length === 0)
      return { ...base, status: 'planned', ...found, ...(await chain.settle('planned', found)) };

    const manifest = await source.getManifest(sourceRepository, sourceHead.digest, op);
    // After the HEADs, before any write: an image lacking a platform is refused whole.
    await requirePlatforms(required, source, sourceRepository, manifest);
    if (ctx.dryRun)
      return {
        ...base,
        status: 'planned',
        ...found,
        ...(await chain.settle('planned', { ...found, manifest })),
      };
    const tree = { source, destination, sourceRepository, targetRepository, stats, ctx };
    await copyChildren(tree, manifest, 0);
    try {
      throwIfCancelled(signal);
      await destination.putManifest(targetRepository, targetTag, manifest, op);
      stats.manifestsPut++;
    } catch (error) {
      throwIfCancelled(signal);
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
      if (
        !(await holdsManifest(destination, targetRepository, targetTag, now, manifest.digest, op))
      )
        return conflict(now, 'was set meanwhile by another writer to');
    }
    return {
      ...base,
      status: 'copied',
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      ...(await chain.settle('copied', { ...found, manifest })),
      stats,
    };
  } catch (error) {
    return {
      ...base,
      status: 'failed',
      ...failureReason(error),
      ...platformFailureFields(error),
      stats,
    };
  }
}

interface Tree {
  readonly source: RegistryClient;
  readonly destination: RegistryClient;
  readonly sourceRepository: string;
  readonly targetRepository: string;
  readonly stats: CopyStats;
  readonly ctx: CopyContext;
}

/** Puts everything `manifest` refers to into the target, leaving the manifest itself to the caller. */
async function copyChildren(tree: Tree, manifest: Manifest, depth: number): Promise<void> {
  const parsed = manifest.parsed;
  if (parsed.kind === 'manifest') {
    // Largest first: the long transfers start early and overlap the short ones.
    const blobs = blobsToCopy(parsed).sort((a, b) => b.size - a.size);
    const priority = blobs[0]?.size ?? 0;
    await Promise.all(
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
  const op = { signal: tree.ctx.signal };
  await Promise.all(
    parsed.manifests.map(async (child) => {
      if (await tree.destination.headManifest(tree.targetRepository, child.digest, op)) return;
      const childManifest = await tree.source.getManifest(tree.sourceRepository, child.digest, op);
      await copyChildren(tree, childManifest, depth + 1);
      throwIfCancelled(tree.ctx.signal);
      await tree.destination.putManifest(tree.targetRepository, child.digest, childManifest, op);
      tree.stats.manifestsPut++;
    }),
  );
}
