// An ObjectStore in memory, with generations and preconditions as Cloud
// Storage keeps them: for tests and the bench, never for a deployment.

import {
  type ListedObject,
  type ListOptions,
  type ObjectStore,
  PreconditionFailedError,
  type StoredObject,
  type WriteOptions,
} from './object-store.ts';

interface Entry extends StoredObject {
  readonly created: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** `*` within one path segment, `**` across segments, `?` one character. */
export function globPattern(glob: string): RegExp {
  const body = glob
    .split(/(\*\*|\*|\?)/)
    .map((part) => {
      if (part === '**') return '.*';
      if (part === '*') return '[^/]*';
      if (part === '?') return '[^/]';
      return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${body}$`);
}

export class MemoryObjectStore implements ObjectStore {
  readonly #objects = new Map<string, Entry>();
  #generation = 0;
  /** Requests served, by kind: what a test or the bench can count. */
  readonly requests = { read: 0, write: 0, list: 0 };

  async read(name: string): Promise<StoredObject | undefined> {
    this.requests.read++;
    const entry = this.#objects.get(name);
    return entry && { bytes: entry.bytes, generation: entry.generation };
  }

  /** Check and write in one synchronous step, as the service does atomically. */
  async write(name: string, bytes: string | Buffer, options: WriteOptions = {}): Promise<string> {
    this.requests.write++;
    const current = this.#objects.get(name)?.generation ?? '0';
    if (options.ifGenerationMatch !== undefined && options.ifGenerationMatch !== current)
      throw new PreconditionFailedError(name, options.ifGenerationMatch);
    const generation = String(++this.#generation);
    this.#objects.set(name, {
      bytes: Buffer.from(bytes),
      generation,
      created: new Date().toISOString(),
      ...(options.metadata && { metadata: { ...options.metadata } }),
    });
    return generation;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListedObject[]> {
    this.requests.list++;
    const matches = options.glob ? globPattern(options.glob) : undefined;
    return [...this.#objects]
      .filter(([name]) => name.startsWith(prefix) && (!matches || matches.test(name)))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, entry]) => ({
        name,
        generation: entry.generation,
        created: entry.created,
        ...(entry.metadata && { metadata: entry.metadata }),
      }));
  }

  /** Every object's name (a test's view of the bucket). */
  names(): string[] {
    return [...this.#objects.keys()];
  }

  /** An object's bytes as text, without counting a request. */
  text(name: string): string | undefined {
    return this.#objects.get(name)?.bytes.toString('utf8');
  }

  delete(name: string): boolean {
    return this.#objects.delete(name);
  }
}
