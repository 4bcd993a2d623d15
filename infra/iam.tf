# One service account per function, each with the least it needs, granted on
# the one resource it needs rather than on the project.

resource "google_service_account" "fanout" {
  project      = var.project_id
  account_id   = "${var.name}-fanout"
  display_name = "image-syncer fan-out (reads images files, publishes jobs, writes run records)"
}

resource "google_service_account" "copy" {
  project      = var.project_id
  account_id   = "${var.name}-copy"
  display_name = "image-syncer copy (writes the mirror repository and run records)"
}

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = "${var.name}-api"
  display_name = "image-syncer HTTP api (plans, publishes jobs, reads run records)"
}

resource "google_service_account" "plan" {
  project      = var.project_id
  account_id   = "${var.name}-plan"
  display_name = "image-syncer HTTP plan (reads only)"
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${var.name}-trigger"
  display_name = "image-syncer Eventarc triggers (invokes the fan-out functions)"
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.name}-push"
  display_name = "image-syncer jobs push subscription (invokes the copy function)"
}

# --- fan-out: read images files, publish jobs, write run records ---
resource "google_storage_bucket_iam_member" "fanout_reads_images" {
  bucket = google_storage_bucket.images.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.fanout.member
}

resource "google_pubsub_topic_iam_member" "fanout_publishes_jobs" {
  project = var.project_id
  topic   = google_pubsub_topic.jobs.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.fanout.member
}

resource "google_storage_bucket_iam_member" "fanout_writes_runs" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.fanout.member
}

# --- copy: write to the one mirror repository, write run records ---
resource "google_artifact_registry_repository_iam_member" "copy_writes_mirror" {
  project    = var.project_id
  location   = var.repository_location
  repository = local.repository_id
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.copy.member
}

resource "google_storage_bucket_iam_member" "copy_writes_runs" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.copy.member
}

# --- api: plan (read the mirror), publish jobs, read and write run records ---
resource "google_artifact_registry_repository_iam_member" "api_reads_mirror" {
  project    = var.project_id
  location   = var.repository_location
  repository = local.repository_id
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.api.member
}

resource "google_pubsub_topic_iam_member" "api_publishes_jobs" {
  project = var.project_id
  topic   = google_pubsub_topic.jobs.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.api.member
}

resource "google_storage_bucket_iam_member" "api_uses_runs" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.api.member
}

# --- plan: read the mirror and run records, nothing else ---
resource "google_artifact_registry_repository_iam_member" "plan_reads_mirror" {
  project    = var.project_id
  location   = var.repository_location
  repository = local.repository_id
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.plan.member
}

resource "google_storage_bucket_iam_member" "plan_reads_runs" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.plan.member
}

# --- triggers ---
# Cloud Storage publishes the bucket's events through Pub/Sub.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs.member
}

resource "google_project_iam_member" "trigger_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.trigger.member
}

resource "google_cloud_run_service_iam_member" "trigger_invokes_fanout_upload" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fanout_upload.name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

resource "google_cloud_run_service_iam_member" "trigger_invokes_fanout_request" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fanout_request.name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

# The jobs push subscription authenticates as the push account.
resource "google_cloud_run_service_iam_member" "push_invokes_copy" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.copy.name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Pub/Sub mints the push account's OIDC tokens, forwards dead letters, and
# acknowledges what it forwarded.
resource "google_service_account_iam_member" "pubsub_signs_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.jobs_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
