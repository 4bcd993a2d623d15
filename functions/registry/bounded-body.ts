// Reads a whole response body into memory, refusing to hold more than a
// limit: manifests and image configs are small documents, and a registry that
// streams more than the limit is cut off rather than trusted.

import type { TransportResponse } from './transport.ts';

export async function readBounded(
  body: TransportResponse['body'],
  limit: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
