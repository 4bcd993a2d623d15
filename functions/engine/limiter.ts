// A counting semaphore: at most `limit` tasks run at once; the rest wait,
// highest priority first (then in arrival order). Blob transfers use their size
// as priority, so the longest transfer of a run starts as early as it can and
// the short ones fill the other slots around it.

interface Waiter {
  readonly priority: number;
  readonly resolve: () => void;
}

export class Limiter {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  async run<T>(task: () => Promise<T>, priority = 0): Promise<T> {
    if (this.#active >= this.#limit) {
      await new Promise<void>((resolve) => {
        // Insert after every waiter of equal or higher priority.
        let at = this.#waiting.length;
        while (at > 0 && (this.#waiting[at - 1] as Waiter).priority < priority) at--;
        this.#waiting.splice(at, 0, { priority, resolve });
      });
    } else {
      this.#active++;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next.resolve();
      else this.#active--;
    }
  }
}

/** Maps items through `task` with at most `limit` in flight, keeping input order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const limiter = new Limiter(limit);
  return Promise.all(items.map((item, index) => limiter.run(() => task(item, index))));
}

/**
 * Like Promise.all, but settles only once every promise has: a failure (the
 * first to happen) is thrown after the others have ended too. So whoever
 * hears of the failure, and then closes its connections or answers its
 * caller, leaves no work of its own running on behind it.
 */
export async function allEnded<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  let failure: { error: unknown } | undefined;
  const values = await Promise.all(
    promises.map((promise) =>
      promise.catch((error: unknown) => {
        failure ??= { error };
        return undefined as T;
      }),
    ),
  );
  if (failure) throw failure.error;
  return values;
}
