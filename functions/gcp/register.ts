// Registers the entry points with the Functions Framework over one runtime,
// importing only the modules the served function uses: Cloud Run sets
// FUNCTION_TARGET to the one entry point an instance serves, and each import
// left out is start-up time and memory saved before the first request. With
// no target (tests, local runs) every entry point is registered.

import * as functions from '@google-cloud/functions-framework';
import type { Event, MessagePublishedData, StorageObjectData } from './events.ts';
import type { ClientLibrary, Runtime } from './runtime.ts';

/** What each entry point uses on every request, loaded at cold start (the rest on first use). */
export const FUNCTION_LIBRARIES: Readonly<Record<string, readonly ClientLibrary[]>> = {
  fanOutUpload: ['pubsub', 'storage'],
  fanOutRequest: ['pubsub', 'storage'],
  copyJob: ['storage'],
  api: ['pubsub', 'storage'],
  planApi: [],
};

export async function registerFunctions(runtime: Runtime, target?: string): Promise<void> {
  const serves = (...names: string[]) => target === undefined || names.includes(target);
  if (serves('fanOutUpload', 'fanOutRequest')) {
    const { onImagesFileUploaded, onSyncRequested } = await import('./fanout-events.ts');
    const storageEvent: functions.CloudEventFunction<StorageObjectData> = (event) =>
      onImagesFileUploaded(event as Event<StorageObjectData>, runtime);
    const requestEvent: functions.CloudEventFunction<MessagePublishedData> = (event) =>
      onSyncRequested(event as Event<MessagePublishedData>, runtime);
    functions.cloudEvent('fanOutUpload', storageEvent);
    functions.cloudEvent('fanOutRequest', requestEvent);
  }
  if (serves('copyJob')) {
    // The jobs subscription pushes to the function's URL: see job-push.ts.
    const { onJobPush } = await import('./job-push.ts');
    functions.http('copyJob', (req, res) => onJobPush(req, res, runtime));
  }
  if (serves('api', 'planApi')) {
    const { handleHttp } = await import('./http-api.ts');
    functions.http('api', (req, res) => handleHttp(req, res, runtime, { allowSync: true }));
    functions.http('planApi', (req, res) => handleHttp(req, res, runtime, { allowSync: false }));
  }
}
