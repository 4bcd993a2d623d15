// Token priming: one token request per registry for a whole run instead of
// one per repository (the token spec allows several `scope` parameters), pull
// scopes on sources and pull or push scopes on the target. Best effort:
// whatever fails here is fetched per repository later, as usual.

import type { ImageReference } from '../reference/reference.ts';
import { pullScope, pushScope } from './client.ts';
import type { Registries } from './registries.ts';

export interface PrimeTokensOptions {
  /** Prime the target registry too (a sync); false for the fan-out, which only reads sources. */
  readonly target?: boolean;
  /** What the target is primed for: pull (a dry run only looks) or push (default). */
  readonly targetAccess?: 'pull' | 'push';
  readonly signal?: AbortSignal;
}

const DEFAULTS = { target: true, targetAccess: 'push' } as const;

export async function primeTokens(
  jobs: readonly { readonly sourceRef: ImageReference; readonly target: ImageReference }[],
  registries: Registries,
  options: PrimeTokensOptions = {},
): Promise<void> {
  const { target, targetAccess, signal } = { ...DEFAULTS, ...options };
  if (jobs.length < 2) return;
  const scopes = new Map<string, Set<string>>();
  const add = (registry: string, scope: string) =>
    scopes.set(registry, (scopes.get(registry) ?? new Set()).add(scope));
  for (const job of jobs) {
    add(job.sourceRef.registry, pullScope(job.sourceRef.repository));
    if (target) {
      add(
        job.target.registry,
        targetAccess === 'pull'
          ? pullScope(job.target.repository)
          : pushScope(job.target.repository),
      );
    }
  }
  await Promise.allSettled(
    [...scopes].map(async ([registry, wanted]) =>
      registries
        .client(registry)
        .transport.prime({ scopes: [...wanted], ...(signal && { signal }) }),
    ),
  );
}
