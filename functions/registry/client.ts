// Registry operations from the distribution spec, each verifying what it
// moves: manifests by HEAD/GET/PUT with the exact bytes, blobs by HEAD, cross-
// repository mount and a streamed GET → PUT whose digest is checked in flight.

import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, SyncerError, UnsupportedMediaTypeError } from '../errors.ts';
import {
  algorithmOf,
  DigestVerifier,
  digestOf,
  isValidDigest,
  verifyDigest,
} from '../oci/digest.ts';
import { type ParsedManifest, parseManifest } from '../oci/manifest.ts';
import { isSchema1, MANIFEST_ACCEPT } from '../oci/media-types.ts';
import { cancellation } from '../util/abort.ts';
import { readBounded } from './bounded-body.ts';
import { RegistryError, RegistryNetworkError } from './errors.ts';
import { redactUrl } from './redact.ts';
import { type RetryPolicy, withRetry } from './retry.ts';
import { header, type Transport, type TransportResponse } from './transport.ts';

/** Registries must accept manifests of at least 4 MiB (OCI distribution spec); we read no more. */
export const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024;

export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface Manifest extends ManifestHead {
  readonly bytes: Buffer;
  readonly parsed: ParsedManifest;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function isDigest(reference: string): boolean {
  return reference.includes(':');
}

/** What every operation may take: the copy's cancellation. */
export interface OperationOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * Docker schema 1 is refused from its HEAD, before any GET (a GET of Docker
 * Hub is a pull that counts). Its signed form cannot be copied with its digest
 * preserved (the registry's digest covers the payload without the signatures
 * the bytes carry), and the format is deprecated: Docker disabled pulling it
 * by default (moby/moby#47459, https://docs.docker.com/go/deprecated-image-specs/),
 * containerd deprecated it (containerd/containerd#6884), and the distribution
 * project asks for images to be rebuilt
 * (https://distribution.github.io/distribution/spec/deprecated-schema-v1/).
 */
function refuseSchema1(what: string, mediaType: string | undefined): void {
  if (mediaType === undefined || !isSchema1(mediaType)) return;
  throw new UnsupportedMediaTypeError(
    mediaType,
    `${what} is a Docker schema 1 manifest, a deprecated format that cannot be copied with its digest preserved; refused without downloading it: ask upstream for an OCI or Docker schema 2 image`,
  );
}

/**
 * Whether a registry's announced digest names these bytes. Digests of
 * different algorithms are never compared as strings: the bytes are hashed
 * with the algorithm the announced digest names. A malformed announcement is
 * no evidence either way (it is only a hint) and is ignored.
 */
export function announcedMatches(announced: string | undefined, bytes: Uint8Array): boolean {
  if (announced === undefined || !isValidDigest(announced)) return true;
  return digestOf(bytes, algorithmOf(announced)) === announced;
}

export async function readManifestBody(response: TransportResponse, what: string): Promise<Buffer> {
  const declared = Number(header(response.headers, 'content-length') ?? Number.NaN);
  if (declared > MANIFEST_SIZE_LIMIT) {
    await response.body.dump();
    throw new SyncerError(
      'MANIFEST_TOO_LARGE',
      `${what}: manifest of ${declared} bytes exceeds ${MANIFEST_SIZE_LIMIT}`,
    );
  }
  return readBounded(
    response.body,
    MANIFEST_SIZE_LIMIT,
    () =>
      new SyncerError(
        'MANIFEST_TOO_LARGE',
        `${what}: manifest exceeds ${MANIFEST_SIZE_LIMIT} bytes`,
      ),
  );
}

export type BlobCopyProgress = (bytes: number) => void;

/** Drops a response body unread, swallowing the abort error destroying it raises. */
function discard(body: TransportResponse['body']): void {
  body.on('error', () => {});
  body.destroy();
}

export class RegistryClient {
  readonly transport: Transport;
  readonly #retry: RetryPolicy;

  constructor(transport: Transport, retry: RetryPolicy) {
    this.transport = transport;
    this.#retry = retry;
  }

  /** The manifest's digest and type, without downloading it (a HEAD is not a Docker Hub pull). */
  async headManifest(
    repository: string,
    reference: string,
    options: OperationOptions = {},
  ): Promise<ManifestHead | undefined> {
    const response = await this.transport.request({
      method: 'HEAD',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [pullScope(repository)],
      headers: { accept: MANIFEST_ACCEPT },
      expect: [200, 404],
      signal: options.signal,
    });
    await response.body.dump();
    if (response.status === 404) return undefined;
    const headerDigest = header(response.headers, 'docker-content-digest');
    const mediaType = header(response.headers, 'content-type')?.split(';')[0]?.trim();
    refuseSchema1(`${repository}@${reference}`, mediaType);
    const size = Number(header(response.headers, 'content-length') ?? Number.NaN);
    const digest = isDigest(reference)
      ? reference
      : headerDigest && isValidDigest(headerDigest)
        ? headerDigest
        : undefined;
    if (digest && mediaType && Number.isFinite(size)) return { digest, mediaType, size };
    // Some registries omit the digest on HEAD: fall back to GET and hash it.
    const manifest = await this.getManifest(repository, reference, options);
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size };
  }

  /**
   * GETs a manifest and checks its bytes against the digest asked for, hashed
   * with that digest's algorithm. By tag, the registry's announced digest (if
   * well formed) is checked in its own algorithm and names the manifest; a
   * tag GET without one is named by its sha256.
   */
  async getManifest(
    repository: string,
    reference: string,
    options: OperationOptions = {},
  ): Promise<Manifest> {
    const what = `${repository}@${reference}`;
    return withRetry(
      this.#retry,
      async () => {
        const response = await this.transport.request({
          method: 'GET',
          url: `/v2/${repository}/manifests/${reference}`,
          scopes: [pullScope(repository)],
          headers: { accept: MANIFEST_ACCEPT },
          expect: [200],
          retry: false,
          signal: options.signal,
        });
        const contentType = header(response.headers, 'content-type');
        refuseSchema1(what, contentType?.split(';')[0]?.trim());
        const bytes = await readManifestBody(response, what);
        const announced = header(response.headers, 'docker-content-digest')?.trim();
        let digest: string;
        if (isDigest(reference)) {
          verifyDigest(`manifest ${what}`, bytes, reference);
          digest = reference;
        } else if (announced !== undefined && isValidDigest(announced)) {
          if (!announcedMatches(announced, bytes)) {
            throw new DigestMismatchError(
              `manifest ${what}`,
              announced,
              digestOf(bytes, algorithmOf(announced)),
            );
          }
          digest = announced;
        } else {
          digest = digestOf(bytes);
        }
        const parsed = parseManifest(`manifest ${what}`, bytes, contentType);
        return { bytes, digest, mediaType: parsed.mediaType, size: bytes.length, parsed };
      },
      undefined,
      options.signal,
    );
  }

  /** PUTs the exact bytes under a tag or digest and checks the digest the registry computed. */
  async putManifest(
    repository: string,
    reference: string,
    manifest: Pick<Manifest, 'bytes' | 'mediaType' | 'digest'>,
    options: OperationOptions = {},
  ): Promise<void> {
    const response = await this.transport.request({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [pushScope(repository)],
      headers: { 'content-type': manifest.mediaType },
      body: manifest.bytes,
      expect: [201, 200],
      signal: options.signal,
    });
    await response.body.dump();
    // The registry says which digest it stored, in its own algorithm (a
    // sha256 registry given a manifest we know by sha512): compare like with like.
    const stored = header(response.headers, 'docker-content-digest')?.trim();
    if (stored && !announcedMatches(stored, manifest.bytes)) {
      throw new DigestMismatchError(
        `registry stored ${repository}:${reference}`,
        manifest.digest,
        stored,
      );
    }
  }

  async hasBlob(
    repository: string,
    digest: string,
    options: OperationOptions = {},
  ): Promise<boolean> {
    const response = await this.transport.request({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      scopes: [pullScope(repository)],
      expect: [200, 404],
      signal: options.signal,
    });
    await response.body.dump();
    return response.status === 200;
  }

  /**
   * Asks the registry to link a blob it already holds in another repository
   * (OCI distribution spec, "Mounting a blob from another repository"): best
   * effort. 201 means done. 202 means it would not (`from` not readable, the
   * blob not there, mounting unsupported) and opened an ordinary upload
   * session instead, whose URL is returned for the upload to use. Any other
   * answer is a refusal too: Docker Hub and Harbor answer 401 or 403, and
   * containerd and go-containerregistry fall back to a plain upload on any
   * mount error; so does this, with `location` left for a fresh session.
   * A refused mount is asked once, never retried.
   */
  async mountBlob(
    repository: string,
    digest: string,
    from: string,
    options: OperationOptions = {},
  ): Promise<{ mounted: true } | { mounted: false; location?: string }> {
    const query = new URLSearchParams({ mount: digest, from });
    let response: TransportResponse;
    try {
      response = await this.transport.request({
        method: 'POST',
        url: `/v2/${repository}/blobs/uploads/?${query}`,
        scopes: [pushScope(repository), pullScope(from)],
        expect: [201, 202],
        retry: false,
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof RegistryError) return { mounted: false };
      throw error;
    }
    await response.body.dump();
    if (response.status === 201) return { mounted: true };
    const location = header(response.headers, 'location');
    return location
      ? { mounted: false, location: new URL(location, response.url).toString() }
      : { mounted: false };
  }

  async startUpload(
    repository: string,
    options: { retry?: boolean; signal?: AbortSignal | undefined } = {},
  ): Promise<string> {
    const response = await this.transport.request({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/`,
      scopes: [pushScope(repository)],
      expect: [202],
      ...(options.retry === false && { retry: false }),
      signal: options.signal,
    });
    await response.body.dump();
    return this.#location(response);
  }

  #location(response: TransportResponse): string {
    const location = header(response.headers, 'location');
    if (!location) {
      throw new SyncerError(
        'UPLOAD_LOCATION_MISSING',
        `${redactUrl(response.url)} opened an upload without a Location`,
      );
    }
    return new URL(location, response.url).toString();
  }

  /**
   * Streams one blob from `source` into this registry: GET (following redirects)
   * → digest verifier → monolithic PUT with a known Content-Length. Nothing is
   * buffered beyond the stream's own chunks. A failed attempt starts over with
   * a fresh download and upload session; a consumed stream is never replayed.
   */
  async copyBlobFrom(
    source: RegistryClient,
    sourceRepository: string,
    blob: { digest: string; size: number },
    repository: string,
    options: { location?: string; onProgress?: BlobCopyProgress; signal?: AbortSignal } = {},
  ): Promise<void> {
    let location = options.location;
    const signal = options.signal;
    await withRetry(
      this.#retry,
      async () => {
        // Open the upload session and start the download at once: one round
        // trip less per blob. A session is used once; a retry opens a new one.
        const session = location ?? this.startUpload(repository, { retry: false, signal });
        location = undefined;
        const downloading = source.transport.request({
          method: 'GET',
          url: `/v2/${sourceRepository}/blobs/${blob.digest}`,
          scopes: [pullScope(sourceRepository)],
          expect: [200],
          retry: false,
          signal,
        });
        const [opened, fetched] = await Promise.allSettled([session, downloading]);
        if (opened.status === 'rejected' || fetched.status === 'rejected') {
          // The download is dropped unread: its body reports the abort as an
          // error, which nobody else listens for.
          if (fetched.status === 'fulfilled') discard(fetched.value.body);
          throw opened.status === 'rejected'
            ? opened.reason
            : (fetched as PromiseRejectedResult).reason;
        }
        const uploadUrl = new URL(opened.value);
        uploadUrl.searchParams.set('digest', blob.digest);
        const download = fetched.value;
        let transferred = 0;
        const verifier = new DigestVerifier(
          `blob ${sourceRepository}@${blob.digest}`,
          blob.digest,
          blob.size,
          (n) => {
            transferred += n;
            options.onProgress?.(n);
          },
        );
        let sourceError: unknown;
        const piping = pipeline(download.body, verifier).catch((error) => {
          sourceError = error;
        });
        try {
          const response = await this.transport.request({
            method: 'PUT',
            url: uploadUrl.toString(),
            scopes: [pushScope(repository)],
            headers: {
              'content-type': 'application/octet-stream',
              'content-length': String(blob.size),
            },
            body: verifier,
            expect: [201, 204],
            signal,
          });
          await response.body.dump();
        } catch (error) {
          download.body.destroy();
          verifier.destroy();
          await piping;
          // Undo the progress of a failed attempt, so the display stays honest.
          options.onProgress?.(-transferred);
          if (signal?.aborted) throw cancellation(signal);
          if (sourceError instanceof SyncerError) throw sourceError;
          if (sourceError)
            throw new RegistryNetworkError('GET', redactUrl(download.url), sourceError);
          throw error;
        }
        await piping;
        if (sourceError) throw sourceError;
      },
      undefined,
      signal,
    );
  }
}
