// Registers the entry points with the Functions Framework over one runtime.
// Tests call this with a runtime of their own; index.ts does it at cold start.

import * as functions from '@google-cloud/functions-framework';
import {
  type Event,
  type MessagePublishedData,
  onCopyJob,
  onImagesFileUploaded,
  onSyncRequested,
  type StorageObjectData,
} from './events.ts';
import { handleHttp } from './http-api.ts';
import type { Runtime } from './runtime.ts';

export function registerFunctions(runtime: Runtime): void {
  const storageEvent: functions.CloudEventFunction<StorageObjectData> = (event) =>
    onImagesFileUploaded(event as Event<StorageObjectData>, runtime);
  const requestEvent: functions.CloudEventFunction<MessagePublishedData> = (event) =>
    onSyncRequested(event as Event<MessagePublishedData>, runtime);
  const jobEvent: functions.CloudEventFunction<MessagePublishedData> = (event) =>
    onCopyJob(event as Event<MessagePublishedData>, runtime);
  functions.cloudEvent('fanOutUpload', storageEvent);
  functions.cloudEvent('fanOutRequest', requestEvent);
  functions.cloudEvent('copyJob', jobEvent);
  functions.http('api', (req, res) => handleHttp(req, res, runtime, { allowSync: true }));
  functions.http('planApi', (req, res) => handleHttp(req, res, runtime, { allowSync: false }));
}
