// Adapters from CloudEvents to the fan-out: the images bucket's
// object-finalized events and request messages on the requests topic each
// start a run. Return to acknowledge, throw to have the event delivered again.

import { fanOut } from '../pipeline/fanout.ts';
import { deterministicRunId, isValidRunId } from '../pipeline/job.ts';
import { isRegistryAllowed } from '../registry/network-policy.ts';
import type { Event, MessagePublishedData, StorageObjectData } from './events.ts';
import type { Runtime } from './runtime.ts';

/** One run per uploaded object generation: a redelivered event finds its run. */
export function storageRunId(bucket: string, name: string, generation: string | undefined): string {
  return deterministicRunId('gcs', [bucket, name, generation ?? '']);
}

/** What every fan-out adapter hands the core. */
export function fanOutDeps(rt: Runtime) {
  return {
    prefix: rt.config.targetRepoPrefix,
    store: rt.store(),
    publisher: rt.publisher(),
    logger: rt.logger,
    isRegistryAllowed: (registry: string) => isRegistryAllowed(rt.config.policy, registry),
    ...(rt.config.pinDigests && {
      registries: rt.registries(),
      pullBudgetMargin: rt.config.pullBudgetMargin,
    }),
  };
}

/** An images file uploaded to the bucket: one run per object generation. */
export async function onImagesFileUploaded(
  event: Event<StorageObjectData>,
  rt: Runtime,
): Promise<void> {
  const { bucket, name } = event.data ?? {};
  const generation =
    event.data?.generation === undefined ? undefined : String(event.data.generation);
  if (!bucket || !name) {
    rt.logger.warn('storage event without bucket or object name; ignored', { eventId: event.id });
    return;
  }
  if (!rt.config.imagesFilePatterns.some((pattern) => pattern.test(name))) {
    rt.logger.info('object is not an images file; ignored', { bucket, object: name });
    return;
  }
  if (name.startsWith('runs/')) {
    rt.logger.info('run record, not an images file; ignored', { bucket, object: name });
    return;
  }
  const bytes = await rt.readObject(bucket, name, generation);
  const runId = storageRunId(bucket, name, generation);
  await fanOut(
    {
      runId,
      file: `gs://${bucket}/${name}${generation ? `#${generation}` : ''}`,
      bytes,
      trigger: { type: 'storage', bucket, object: name, ...(generation && { generation }) },
      dryRun: rt.config.dryRun,
    },
    fanOutDeps(rt),
  );
}

const GS_URL = /^gs:\/\/([^/]+)\/(.+)$/;

/**
 * A request from CI on the requests topic: the data is an images file (YAML),
 * or `{"imagesFile": "gs://bucket/object", "runId"?: "...", "dryRun"?: bool}`.
 * A runId may also come as an attribute; otherwise the message id makes one,
 * so a redelivered request does not start a second run.
 */
export async function onSyncRequested(
  event: Event<MessagePublishedData>,
  rt: Runtime,
): Promise<void> {
  const message = event.data?.message;
  const text = Buffer.from(message?.data ?? '', 'base64').toString('utf8');
  const attributes = message?.attributes ?? {};
  let request: { imagesFile?: unknown; runId?: unknown; dryRun?: unknown } | undefined;
  if (text.trimStart().startsWith('{')) {
    try {
      request = JSON.parse(text);
    } catch {
      request = undefined; // YAML flow mappings start with `{` too; treat as an images file.
    }
  }
  const requestedRunId = String(request?.runId ?? attributes.runId ?? '');
  if (requestedRunId && !isValidRunId(requestedRunId)) {
    rt.logger.warn('request with a malformed runId; ignored', {
      messageId: message?.messageId,
      runId: requestedRunId.slice(0, 64),
    });
    return;
  }
  const runId =
    requestedRunId || deterministicRunId('msg', [message?.messageId ?? event.id ?? text]);
  const dryRun = rt.config.dryRun || request?.dryRun === true || attributes.dryRun === 'true';
  let file = 'request message';
  let bytes: Buffer = Buffer.from(text);
  if (request && typeof request.imagesFile === 'string') {
    const match = GS_URL.exec(request.imagesFile);
    if (!match) {
      rt.logger.warn('imagesFile must be a gs:// URL; ignored', {
        runId,
        imagesFile: request.imagesFile,
      });
      return;
    }
    file = request.imagesFile;
    bytes = await rt.readObject(match[1] as string, match[2] as string);
  }
  await fanOut(
    {
      runId,
      file,
      bytes,
      trigger: { type: 'pubsub', messageId: message?.messageId ?? event.id ?? '' },
      dryRun,
    },
    fanOutDeps(rt),
  );
}
