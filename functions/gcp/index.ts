// The Cloud Run functions entry points, registered with the Functions
// Framework. The configuration is read here, at cold start, so a bad
// deployment fails at once and names the variable.
//
//   fanOutUpload   CloudEvent  google.cloud.storage.object.v1.finalized (images bucket)
//   fanOutRequest  CloudEvent  google.cloud.pubsub.topic.v1.messagePublished (requests topic)
//   copyJob        CloudEvent  google.cloud.pubsub.topic.v1.messagePublished (jobs topic)
//   api            HTTP        POST /plan, POST /sync, GET /runs/{id}
//   planApi        HTTP        POST /plan, GET /runs/{id}

import * as functions from '@google-cloud/functions-framework';
import { loadConfig } from './config.ts';
import {
  type Event,
  type MessagePublishedData,
  onCopyJob,
  onImagesFileUploaded,
  onSyncRequested,
  type StorageObjectData,
} from './events.ts';
import { handleHttp } from './http-api.ts';
import { createRuntime, type Runtime } from './runtime.ts';

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

// Under the Functions Framework (locally or deployed) FUNCTION_TARGET names the
// function this instance serves; tests import registerFunctions instead.
if (process.env.FUNCTION_TARGET) registerFunctions(createRuntime(loadConfig(process.env)));
