// The Cloud Run functions entry points, registered with the Functions
// Framework. The configuration is read here, at cold start, so a bad
// deployment fails at once and names the variable.
//
//   fanOutUpload   CloudEvent  google.cloud.storage.object.v1.finalized (images bucket)
//   fanOutRequest  CloudEvent  google.cloud.pubsub.topic.v1.messagePublished (requests topic)
//   copyJob        HTTP        Pub/Sub push from the jobs subscription (job-push.ts)
//   api            HTTP        POST /plan, POST /sync, GET /runs/{id}
//   planApi        HTTP        POST /plan, GET /runs/{id}
//
// Cloud Run functions set FUNCTION_TARGET to the entry point an instance
// serves: its variables are checked, and only what it uses is loaded (the
// Framework awaits this module, so the imports finish before it listens).

import { loadConfig } from './config.ts';
import { FUNCTION_LIBRARIES, registerFunctions } from './register.ts';
import { createRuntime } from './runtime.ts';

const target = process.env.FUNCTION_TARGET || undefined;
const runtime = createRuntime(loadConfig(process.env, target));
await Promise.all([
  registerFunctions(runtime, target),
  runtime.preload(target ? (FUNCTION_LIBRARIES[target] ?? []) : []),
]);
