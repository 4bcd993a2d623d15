// Getting each blob into the target exactly once per run. The first image that
// needs a blob copies it (after a HEAD shows the target lacks it); every other
// image that needs the same digest, in another target repository, waits for
// that copy and then asks the target registry to mount it across repositories,
// which moves no bytes. Mount refused (202) → an ordinary streamed upload.

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
}

export class BlobTracker {
  /** digest → the target repository that holds (or will hold) it. */
  readonly #placed = new Map<string, Promise<string>>();

  async ensure(ctx: BlobCopyContext, blob: Descriptor): Promise<void> {
    const known = this.#placed.get(blob.digest);
    if (known) {
      const repository = await known.catch(() => undefined);
      if (repository === ctx.targetRepository) return;
      if (repository !== undefined) {
        await ctx.transfers.run(() => this.#mountOrCopy(ctx, blob, repository));
        return;
      }
    }
    const placing = ctx.transfers
      .run(() => this.#headOrCopy(ctx, blob))
      .then(() => ctx.targetRepository);
    this.#placed.set(blob.digest, placing);
    await placing;
  }

  async #headOrCopy(ctx: BlobCopyContext, blob: Descriptor): Promise<void> {
    if (await ctx.target.hasBlob(ctx.targetRepository, blob.digest)) {
      ctx.stats.blobsPresent++;
      return;
    }
    await this.#stream(ctx, blob);
  }

  async #mountOrCopy(ctx: BlobCopyContext, blob: Descriptor, from: string): Promise<void> {
    const mount = await ctx.target.mountBlob(ctx.targetRepository, blob.digest, from);
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
      onProgress: (delta) => {
        moved += delta;
        ctx.onBytes?.(delta);
      },
    });
    ctx.stats.blobsCopied++;
    ctx.stats.bytesCopied += moved;
  }
}
