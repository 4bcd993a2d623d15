// The Cloud Run functions entry points, registered with the Functions
// Framework. The configuration is read here, at cold start, so a bad
// deployment fails at once and names the variable.
//
//   fanOutUpload   CloudEvent  google.cloud.storage.object.v1.finalized (images bucket)
//   fanOutRequest  CloudEvent  google.cloud.pubsub.topic.v1.messagePublished (requests topic)
//   copyJob        CloudEvent  google.cloud.pubsub.topic.v1.messagePublished (jobs topic)
//   api            HTTP        POST /plan, POST /sync, GET /runs/{id}
//   planApi        HTTP        POST /plan, GET /runs/{id}

import { loadConfig } from './config.ts';
import { registerFunctions } from './register.ts';
import { createRuntime } from './runtime.ts';

// Cloud Run functions set FUNCTION_TARGET to the entry point an instance
// serves, so the variables that function needs are checked here too.
registerFunctions(createRuntime(loadConfig(process.env)));
