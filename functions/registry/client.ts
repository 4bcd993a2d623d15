// Registry operations from the distribution spec, each verifying what it
// moves: manifests by HEAD/GET/PUT with the exact bytes, blobs by HEAD, cross-
// repository mount and a streamed GET → PUT whose digest is checked in flight.

import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, SyncerError } from '../errors.ts';
import { DigestVerifier, digestOf, verifyDigest } from '../oci/digest.ts';
import { type ParsedManifest, parseManifest } from '../oci/manifest.ts';
import { MANIFEST_ACCEPT } from '../oci/media-types.ts';
import { RegistryNetworkError } from './errors.ts';
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

export async function readManifestBody(response: TransportResponse, what: string): Promise<Buffer> {
  const declared = Number(header(response.headers, 'content-length') ?? Number.NaN);
  if (declared > MANIFEST_SIZE_LIMIT) {
    await response.body.dump();
    throw new SyncerError(
      'MANIFEST_TOO_LARGE',
      `${what}: manifest of ${declared} bytes exceeds ${MANIFEST_SIZE_LIMIT}`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > MANIFEST_SIZE_LIMIT) {
      response.body.destroy();
      throw new SyncerError(
        'MANIFEST_TOO_LARGE',
        `${what}: manifest exceeds ${MANIFEST_SIZE_LIMIT} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export type BlobCopyProgress = (bytes: number) => void;

export class RegistryClient {
  readonly transport: Transport;
  readonly #retry: RetryPolicy;

  constructor(transport: Transport, retry: RetryPolicy) {
    this.transport = transport;
    this.#retry = retry;
  }

  /** The manifest's digest and type, without downloading it (a HEAD is not a Docker Hub pull). */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const response = await this.transport.request({
      method: 'HEAD',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [pullScope(repository)],
      headers: { accept: MANIFEST_ACCEPT },
      expect: [200, 404],
    });
    await response.body.dump();
    if (response.status === 404) return undefined;
    const headerDigest = header(response.headers, 'docker-content-digest');
    const mediaType = header(response.headers, 'content-type')?.split(';')[0]?.trim();
    const size = Number(header(response.headers, 'content-length') ?? Number.NaN);
    const digest = isDigest(reference) ? reference : headerDigest;
    if (digest && mediaType && Number.isFinite(size)) return { digest, mediaType, size };
    // Some registries omit the digest on HEAD: fall back to GET and hash it.
    const manifest = await this.getManifest(repository, reference);
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size };
  }

  /** GETs a manifest and checks its bytes against the digest asked for (or announced). */
  async getManifest(repository: string, reference: string): Promise<Manifest> {
    const what = `${repository}@${reference}`;
    return withRetry(this.#retry, async () => {
      const response = await this.transport.request({
        method: 'GET',
        url: `/v2/${repository}/manifests/${reference}`,
        scopes: [pullScope(repository)],
        headers: { accept: MANIFEST_ACCEPT },
        expect: [200],
        retry: false,
      });
      const bytes = await readManifestBody(response, what);
      const announced = header(response.headers, 'docker-content-digest');
      let digest: string;
      if (isDigest(reference)) {
        verifyDigest(`manifest ${what}`, bytes, reference);
        digest = reference;
      } else {
        digest = digestOf(bytes);
        if (announced?.startsWith('sha256:') && announced !== digest) {
          throw new DigestMismatchError(`manifest ${what}`, announced, digest);
        }
      }
      const parsed = parseManifest(
        `manifest ${what}`,
        bytes,
        header(response.headers, 'content-type'),
      );
      return { bytes, digest, mediaType: parsed.mediaType, size: bytes.length, parsed };
    });
  }

  /** PUTs the exact bytes under a tag or digest and checks the digest the registry computed. */
  async putManifest(
    repository: string,
    reference: string,
    manifest: Pick<Manifest, 'bytes' | 'mediaType' | 'digest'>,
  ): Promise<void> {
    const response = await this.transport.request({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [pushScope(repository)],
      headers: { 'content-type': manifest.mediaType },
      body: manifest.bytes,
      expect: [201, 200],
    });
    await response.body.dump();
    const stored = header(response.headers, 'docker-content-digest');
    if (stored && stored !== manifest.digest) {
      throw new DigestMismatchError(
        `registry stored ${repository}:${reference}`,
        manifest.digest,
        stored,
      );
    }
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.transport.request({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      scopes: [pullScope(repository)],
      expect: [200, 404],
      followRedirects: true,
    });
    await response.body.dump();
    return response.status === 200;
  }

  /**
   * Asks the registry to link a blob it already holds in another repository.
   * 201 means done; 202 means it would not (no access to `from`, or mounting
   * unsupported) and opened an ordinary upload session instead, whose URL is returned.
   */
  async mountBlob(
    repository: string,
    digest: string,
    from: string,
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const query = new URLSearchParams({ mount: digest, from });
    const response = await this.transport.request({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/?${query}`,
      scopes: [pushScope(repository), pullScope(from)],
      expect: [201, 202],
    });
    await response.body.dump();
    if (response.status === 201) return { mounted: true };
    return { mounted: false, location: this.#location(response) };
  }

  async startUpload(repository: string, options: { retry?: boolean } = {}): Promise<string> {
    const response = await this.transport.request({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/`,
      scopes: [pushScope(repository)],
      expect: [202],
      ...(options.retry === false && { retry: false }),
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
    options: { location?: string; onProgress?: BlobCopyProgress } = {},
  ): Promise<void> {
    let location = options.location;
    await withRetry(this.#retry, async () => {
      // Open the upload session and start the download at once: one round
      // trip less per blob. A session is used once; a retry opens a new one.
      const session = location ?? this.startUpload(repository, { retry: false });
      location = undefined;
      const downloading = source.transport.request({
        method: 'GET',
        url: `/v2/${sourceRepository}/blobs/${blob.digest}`,
        scopes: [pullScope(sourceRepository)],
        expect: [200],
        followRedirects: true,
        retry: false,
      });
      const [opened, fetched] = await Promise.allSettled([session, downloading]);
      if (opened.status === 'rejected' || fetched.status === 'rejected') {
        if (fetched.status === 'fulfilled') fetched.value.body.destroy();
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
        });
        await response.body.dump();
      } catch (error) {
        download.body.destroy();
        verifier.destroy();
        await piping;
        // Undo the progress of a failed attempt, so the display stays honest.
        options.onProgress?.(-transferred);
        if (sourceError instanceof SyncerError) throw sourceError;
        if (sourceError)
          throw new RegistryNetworkError('GET', redactUrl(download.url), sourceError);
        throw error;
      }
      await piping;
      if (sourceError) throw sourceError;
    });
  }
}
