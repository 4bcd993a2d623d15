# The five entry points of functions/gcp/index.ts, each a Cloud Run function
# (2nd gen) on Node.js 24 with a service account of its own.

locals {
  common_env = {
    SYNCER_TARGET_REPO_PREFIX = local.target_prefix
    SYNCER_PROJECT            = var.project_id
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

  # Source registry credentials, when the secret exists, for every function
  # that talks to source registries.
  secret_env = var.source_credentials_secret ? [{
    key    = "SYNCER_SOURCE_CREDENTIALS"
    secret = local.source_credentials_secret_id
  }] : []
}

resource "google_cloudfunctions2_function" "fanout_upload" {
  project  = var.project_id
  name     = "${var.name}-fanout-upload"
  location = var.region

  build_config {
    runtime     = "nodejs24"
    entry_point = "fanOutUpload"
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
    max_instance_count    = 5
    service_account_email = google_service_account.fanout.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY"
    environment_variables = merge(local.common_env, {
      SYNCER_JOBS_TOPIC          = google_pubsub_topic.jobs.name
      SYNCER_RUNS_BUCKET         = google_storage_bucket.runs.name
      SYNCER_IMAGES_FILE_PATTERN = var.images_file_pattern
    })
    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = "latest"
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

  depends_on = [google_project_iam_member.gcs_publishes_events, google_project_iam_member.trigger_receives_events]
}

resource "google_cloudfunctions2_function" "fanout_request" {
  project  = var.project_id
  name     = "${var.name}-fanout-request"
  location = var.region

  build_config {
    runtime     = "nodejs24"
    entry_point = "fanOutRequest"
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
    max_instance_count    = 5
    service_account_email = google_service_account.fanout.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY"
    environment_variables = merge(local.common_env, {
      SYNCER_JOBS_TOPIC  = google_pubsub_topic.jobs.name
      SYNCER_RUNS_BUCKET = google_storage_bucket.runs.name
    })
    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = "latest"
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

  depends_on = [google_project_iam_member.trigger_receives_events]
}

# Invoked by the jobs push subscription (pubsub.tf), which carries the retry
# backoff and dead-letter policy. The Functions Framework turns the raw push
# into a messagePublished CloudEvent, as the signature type asks.
resource "google_cloudfunctions2_function" "copy" {
  project  = var.project_id
  name     = "${var.name}-copy"
  location = var.region

  build_config {
    runtime     = "nodejs24"
    entry_point = "copyJob"
    environment_variables = {
      GOOGLE_FUNCTION_SIGNATURE_TYPE = "cloudevent"
    }
    source {
      storage_source {
        bucket = local.source.bucket
        object = local.source.object
      }
    }
  }

  service_config {
    available_memory      = var.copy_memory
    timeout_seconds       = 540
    max_instance_count    = var.copy_max_instances
    service_account_email = google_service_account.copy.email
    ingress_settings      = "ALLOW_ALL"
    environment_variables = merge(local.common_env, {
      SYNCER_RUNS_BUCKET           = google_storage_bucket.runs.name
      SYNCER_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      SYNCER_JOB_DEADLINE_SECONDS  = "480"
    })
    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = "latest"
      }
    }
  }
}

# POST /plan, POST /sync, GET /runs/{id}: the writer identity's function.
resource "google_cloudfunctions2_function" "api" {
  project  = var.project_id
  name     = "${var.name}-api"
  location = var.region

  build_config {
    runtime     = "nodejs24"
    entry_point = "api"
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
    max_instance_count    = 5
    service_account_email = google_service_account.api.email
    ingress_settings      = "ALLOW_ALL"
    environment_variables = merge(local.common_env, {
      SYNCER_JOBS_TOPIC  = google_pubsub_topic.jobs.name
      SYNCER_RUNS_BUCKET = google_storage_bucket.runs.name
    })
    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = "latest"
      }
    }
  }
}

# POST /plan and GET /runs/{id} only: what pull requests may call.
resource "google_cloudfunctions2_function" "plan" {
  project  = var.project_id
  name     = "${var.name}-plan"
  location = var.region

  build_config {
    runtime     = "nodejs24"
    entry_point = "planApi"
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
    max_instance_count    = 5
    service_account_email = google_service_account.plan.email
    ingress_settings      = "ALLOW_ALL"
    environment_variables = merge(local.common_env, {
      SYNCER_RUNS_BUCKET = google_storage_bucket.runs.name
    })
    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = "latest"
      }
    }
  }
}
