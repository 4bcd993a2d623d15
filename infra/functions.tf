# The five entry points of functions/gcp/index.ts, each a Cloud Run function
# (2nd gen) on Node.js 24 with a service account of its own, built by the build
# account. Each waits for the grants its build, its trigger and its revision
# need, and then for those grants to take effect (time_sleep.grants_propagate,
# iam.tf): Cloud Run refuses a revision whose secret it cannot read, a build
# whose account lacks its roles fails, and so does a trigger whose agents lack
# theirs (test/infra checks all three).

locals {
  # How many instances of each function may run at once. Each reaches the
  # target registry, so together they divide the share of its quota.
  max_instances = {
    fanout_upload  = 5
    fanout_request = 5
    copy           = var.copy_max_instances
    api            = 5
    plan           = 5
  }
  # Artifact Registry counts requests and writes per minute per project and
  # region, and answers 429 past them (https://cloud.google.com/artifact-registry/quotas).
  # Every instance paces its own requests to the target (registry/throttle.ts):
  # at most 60 × rate + 1 in any minute, so all of them together stay within
  # target_quota_share of the quota however busy they are (infra/README.md,
  # "Sizing"; test/infra/sizing-check.ts recomputes it).
  target_instances           = sum(values(local.max_instances))
  target_requests_per_second = floor((var.target_quota_share * var.target_quota_requests_per_minute - local.target_instances) * 1000 / (60 * local.target_instances)) / 1000
  target_writes_per_second   = floor((var.target_quota_share * var.target_quota_writes_per_minute - local.target_instances) * 1000 / (60 * local.target_instances)) / 1000

  common_env = {
    SYNCER_TARGET_REPO_PREFIX         = local.target_prefix
    SYNCER_PROJECT                    = var.project_id
    SYNCER_TARGET_REQUESTS_PER_SECOND = tostring(local.target_requests_per_second)
    SYNCER_TARGET_WRITES_PER_SECOND   = tostring(local.target_writes_per_second)
    # Pull requests may mirror these early (the plan function publishes them,
    # the copy function checks each job's trust again).
    SYNCER_TRUSTED_SOURCES          = join(",", var.trusted_sources)
    SYNCER_TRUST_FORK_PULL_REQUESTS = tostring(var.trust_fork_pull_requests)
    # Empty means the built-in list of public registries.
    SYNCER_ALLOWED_REGISTRY = join(",", var.allowed_source_registries)
    # Platforms every image must have unless its entry or file says otherwise.
    SYNCER_REQUIRE_PLATFORMS = join(",", var.required_platforms)
    # Signatures, attestations and SBOMs travel with images; unsigned images may be refused.
    SYNCER_REFERRERS         = tostring(var.copy_referrers)
    SYNCER_REQUIRE_SIGNATURE = tostring(var.require_signature)
    LOG_EXECUTION_ID         = "true"
  }

  source = {
    bucket = google_storage_bucket.source.name
    object = google_storage_bucket_object.source.name
  }

  # Every function builds as the build account (iam.tf), never the project's
  # default Cloud Build identity.
  build_service_account = google_service_account.build.id

  # A pull request may mirror trusted sources before it is merged.
  mirrors_early = length(var.trusted_sources) > 0

  # Also the copy function's Cloud Run service, whose logs the metrics read (monitoring.tf).
  copy_function_name = "${var.name}-copy"
}

resource "google_cloudfunctions2_function" "fanout_upload" {
  project  = var.project_id
  name     = "${var.name}-fanout-upload"
  location = var.region

  build_config {
    runtime         = "nodejs24"
    service_account = local.build_service_account
    entry_point     = "fanOutUpload"
    source {
      storage_source {
        bucket = local.source.bucket
        object = local.source.object
      }
    }
  }

  service_config {
    available_memory      = "512Mi"
    timeout_seconds       = 540
    max_instance_count    = local.max_instances.fanout_upload
    service_account_email = google_service_account.fanout.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY"
    environment_variables = merge(local.common_env, local.credentials_env, {
      SYNCER_JOBS_TOPIC          = google_pubsub_topic.jobs.name
      SYNCER_RUNS_BUCKET         = google_storage_bucket.runs.name
      SYNCER_IMAGES_FILE_PATTERN = var.images_file_pattern
      SYNCER_PULL_BUDGET_MARGIN  = tostring(var.pull_budget_margin)
    })
    dynamic "secret_volumes" {
      for_each = local.credentials_volumes
      content {
        mount_path = local.credentials_mount
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          path    = local.credentials_file
          version = "latest"
        }
      }
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.images.name
    }
  }

  depends_on = [time_sleep.grants_propagate]
}

resource "google_cloudfunctions2_function" "fanout_request" {
  project  = var.project_id
  name     = "${var.name}-fanout-request"
  location = var.region

  build_config {
    runtime         = "nodejs24"
    service_account = local.build_service_account
    entry_point     = "fanOutRequest"
    source {
      storage_source {
        bucket = local.source.bucket
        object = local.source.object
      }
    }
  }

  service_config {
    available_memory      = "512Mi"
    timeout_seconds       = 540
    max_instance_count    = local.max_instances.fanout_request
    service_account_email = google_service_account.fanout.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY"
    environment_variables = merge(local.common_env, local.credentials_env, {
      SYNCER_JOBS_TOPIC         = google_pubsub_topic.jobs.name
      SYNCER_RUNS_BUCKET        = google_storage_bucket.runs.name
      SYNCER_PULL_BUDGET_MARGIN = tostring(var.pull_budget_margin)
    })
    dynamic "secret_volumes" {
      for_each = local.credentials_volumes
      content {
        mount_path = local.credentials_mount
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          path    = local.credentials_file
          version = "latest"
        }
      }
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.requests.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  depends_on = [time_sleep.grants_propagate]
}

# Invoked by the jobs push subscription (pubsub.tf), which carries the retry
# backoff and dead-letter policy. An HTTP function: it receives Pub/Sub's push
# envelope itself, so the real deliveryAttempt and subscription are known (the
# Functions Framework's CloudEvent conversion of a raw push drops both).
resource "google_cloudfunctions2_function" "copy" {
  project  = var.project_id
  name     = local.copy_function_name
  location = var.region

  build_config {
    runtime         = "nodejs24"
    service_account = local.build_service_account
    entry_point     = "copyJob"
    environment_variables = {
      GOOGLE_FUNCTION_SIGNATURE_TYPE = "http"
    }
    source {
      storage_source {
        bucket = local.source.bucket
        object = local.source.object
      }
    }
  }

  service_config {
    # Sized with the subscription's delivery attempts (infra/README.md,
    # "Sizing"): copies are I/O-bound, so one vCPU serves several at once,
    # and every job Pub/Sub pushes beyond instances × concurrency is answered
    # 429 and spends a delivery attempt.
    available_memory                 = var.copy_memory
    available_cpu                    = var.copy_cpu
    max_instance_request_concurrency = var.copy_concurrency
    timeout_seconds                  = 540
    max_instance_count               = local.max_instances.copy
    service_account_email            = google_service_account.copy.email
    # Only the jobs push subscription calls it: Pub/Sub pushes from the same
    # project to the run.app URL count as internal traffic
    # (https://cloud.google.com/run/docs/securing/ingress, "Internal").
    ingress_settings = "ALLOW_INTERNAL_ONLY"
    # The function dead-letters a job itself, by its own count of transient
    # failures that were not rate limits (functions/pipeline/rate-limited-job.ts):
    # it publishes the job to the dead-letter topic (the grant below) after
    # copy_max_failures of them. A 429 from a source hands the delivery back
    # without counting, so the subscription's max_delivery_attempts (pubsub.tf)
    # is only a backstop, sized above this count in infra/README.md, "Sizing".
    environment_variables = merge(local.common_env, local.credentials_env, {
      SYNCER_RUNS_BUCKET             = google_storage_bucket.runs.name
      SYNCER_RUNS_TOPIC              = google_pubsub_topic.runs.name
      SYNCER_DEAD_LETTER_TOPIC       = google_pubsub_topic.dead_letter.name
      SYNCER_MAX_DELIVERY_ATTEMPTS   = tostring(var.copy_max_failures)
      SYNCER_RATE_LIMIT_WAIT_SECONDS = tostring(var.copy_rate_limit_wait_seconds)
      SYNCER_JOB_DEADLINE_SECONDS    = "480"
    })
    dynamic "secret_volumes" {
      for_each = local.credentials_volumes
      content {
        mount_path = local.credentials_mount
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          path    = local.credentials_file
          version = "latest"
        }
      }
    }
  }

  depends_on = [time_sleep.grants_propagate]
}

# POST /plan, POST /sync, GET /runs/{id}: the writer identity's function.
resource "google_cloudfunctions2_function" "api" {
  project  = var.project_id
  name     = "${var.name}-api"
  location = var.region

  build_config {
    runtime         = "nodejs24"
    service_account = local.build_service_account
    entry_point     = "api"
    source {
      storage_source {
        bucket = local.source.bucket
        object = local.source.object
      }
    }
  }

  service_config {
    available_memory      = "512Mi"
    timeout_seconds       = 300
    max_instance_count    = local.max_instances.api
    service_account_email = google_service_account.api.email
    ingress_settings      = "ALLOW_ALL"
    environment_variables = merge(local.common_env, local.credentials_env, {
      SYNCER_JOBS_TOPIC         = google_pubsub_topic.jobs.name
      SYNCER_RUNS_BUCKET        = google_storage_bucket.runs.name
      SYNCER_PULL_BUDGET_MARGIN = tostring(var.pull_budget_margin)
    })
    dynamic "secret_volumes" {
      for_each = local.credentials_volumes
      content {
        mount_path = local.credentials_mount
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          path    = local.credentials_file
          version = "latest"
        }
      }
    }
  }

  depends_on = [time_sleep.grants_propagate]
}

# POST /plan and GET /runs/{id} only: what pull requests may call.
resource "google_cloudfunctions2_function" "plan" {
  project  = var.project_id
  name     = "${var.name}-plan"
  location = var.region

  build_config {
    runtime         = "nodejs24"
    service_account = local.build_service_account
    entry_point     = "planApi"
    source {
      storage_source {
        bucket = local.source.bucket
        object = local.source.object
      }
    }
  }

  service_config {
    available_memory      = "512Mi"
    timeout_seconds       = 300
    max_instance_count    = local.max_instances.plan
    service_account_email = google_service_account.plan.email
    ingress_settings      = "ALLOW_ALL"
    # With trusted sources it publishes a pull request's early jobs and records their run.
    environment_variables = merge(local.common_env, local.credentials_env, {
      SYNCER_RUNS_BUCKET = google_storage_bucket.runs.name
      }, local.mirrors_early ? {
      SYNCER_JOBS_TOPIC = google_pubsub_topic.jobs.name
    } : {})
    dynamic "secret_volumes" {
      for_each = local.credentials_volumes
      content {
        mount_path = local.credentials_mount
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          path    = local.credentials_file
          version = "latest"
        }
      }
    }
  }

  depends_on = [time_sleep.grants_propagate]
}
