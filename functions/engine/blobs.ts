// Getting each blob into the target exactly once per run. The first image that
// needs a blob copies it (after a HEAD shows the target lacks it); every other
// image that needs the same digest, in another target repository, waits for
// that copy and then asks the target registry to mount it across repositories,
// which moves no bytes. Mount refused (202 with its upload session, or any
// error status) → an ordinary streamed upload.

import type { Descriptor } from '../oci/manifest.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Limiter } from './limiter.ts';
import type { CopyStats } from './types.ts';

export interface BlobCopyContext {
  readonly source: RegistryClient;
  readonly sourceRepository: string;
  readonly target: RegistryClient;
  readonly targetRepository: string;
  readonly stats: CopyStats;
  readonly transfers: Limiter;
  readonly onBytes?: (delta: number) => void;
  readonly signal?: AbortSignal;
}

export class BlobTracker {
  /** digest → the first target repository that holds (or will hold) it. */
  readonly #home = new Map<string, Promise<string>>();
  /** `repository@digest` → the work that puts it there, so it is done once. */
  readonly #placed = new Map<string, Promise<void>>();

  /**
   * Puts `blob` in the target repository. `priority` orders waiting transfers:
   * the engine gives every blob of a manifest the size of that manifest's
   * largest blob, so the image on the critical path moves first, whole.
   */
  ensure(ctx: BlobCopyContext, blob: Descriptor, priority = blob.size): Promise<void> {
    const key = `${ctx.targetRepository}@${blob.digest}`;
    let placing = this.#placed.get(key);
    if (!placing) {
      placing = this.#place(ctx, blob, priority);
      this.#placed.set(key, placing);
      // A failure is not remembered: a later image may try again.
      placing.catch(() => this.#placed.delete(key));
    }
    return placing;
  }

  async #place(ctx: BlobCopyContext, blob: Descriptor, priority: number): Promise<void> {
    const home = this.#home.get(blob.digest);
    const repository = home ? await home.catch(() => undefined) : undefined;
    if (repository !== undefined && repository !== ctx.targetRepository) {
      await ctx.transfers.run(() => this.#mountOrCopy(ctx, blob, repository), priority);
      return;
    }
    const placing = ctx.transfers
      .run(
        () =>
          // Source and target on one registry: the source repository already
          // holds the blob, so a mount moves no bytes at all.
          ctx.source === ctx.target && ctx.sourceRepository !== ctx.targetRepository
            ? this.#mountOrCopy(ctx, blob, ctx.sourceRepository)
            : this.#headOrCopy(ctx, blob),
        priority,
      )
      .then(() => ctx.targetRepository);
    this.#home.set(blob.digest, placing);
    placing.catch(() => {
      if (this.#home.get(blob.digest) === placing) this.#home.delete(blob.digest);
    });
    await placing;
  }

  async #headOrCopy(ctx: BlobCopyContext, blob: Descriptor): Promise<void> {
    if (await ctx.target.hasBlob(ctx.targetRepository, blob.digest, { signal: ctx.signal })) {
      ctx.stats.blobsPresent++;
      return;
    }
    await this.#stream(ctx, blob);
  }

  async #mountOrCopy(ctx: BlobCopyContext, blob: Descriptor, from: string): Promise<void> {
    // Best effort: any refusal (202 with a session, 401, 403, 404…) is an upload.
    const mount = await ctx.target.mountBlob(ctx.targetRepository, blob.digest, from, {
      signal: ctx.signal,
    });
    if (mount.mounted) {
      ctx.stats.blobsMounted++;
      return;
    }
    await this.#stream(ctx, blob, mount.location);
  }

  async #stream(ctx: BlobCopyContext, blob: Descriptor, location?: string): Promise<void> {
    let moved = 0;
    await ctx.target.copyBlobFrom(ctx.source, ctx.sourceRepository, blob, ctx.targetRepository, {
      ...(location !== undefined && { location }),
      ...(ctx.signal && { signal: ctx.signal }),
      onProgress: (delta) => {
        moved += delta;
        ctx.onBytes?.(delta);
      },
    });
    ctx.stats.blobsCopied++;
    ctx.stats.bytesCopied += moved;
  }
}
