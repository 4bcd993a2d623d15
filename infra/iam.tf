# One service account per function, each with the least it needs, granted on
# the one resource it needs rather than on the project.
#
# scripts/bootstrap-deployer.sh creates every account declared here before the
# first apply and lets the deployer act as (and administer) these accounts and
# no others, so Terraform adopts them (create_ignore_already_exists) rather than
# creating them: the deployer has no project-wide Service Account roles.

resource "google_service_account" "fanout" {
  project                      = var.project_id
  account_id                   = "${var.name}-fanout"
  create_ignore_already_exists = true
  display_name                 = "image-syncer fan-out (reads images files, publishes jobs, writes run records)"
  depends_on                   = [google_project_service.services]
}

resource "google_service_account" "copy" {
  project                      = var.project_id
  account_id                   = "${var.name}-copy"
  create_ignore_already_exists = true
  display_name                 = "image-syncer copy (writes the mirror repository and run records)"
  depends_on                   = [google_project_service.services]
}

resource "google_service_account" "api" {
  project                      = var.project_id
  account_id                   = "${var.name}-api"
  create_ignore_already_exists = true
  display_name                 = "image-syncer HTTP api (plans, publishes jobs, reads run records)"
  depends_on                   = [google_project_service.services]
}

resource "google_service_account" "plan" {
  project                      = var.project_id
  account_id                   = "${var.name}-plan"
  create_ignore_already_exists = true
  display_name                 = "image-syncer HTTP plan (reads only)"
  depends_on                   = [google_project_service.services]
}

resource "google_service_account" "trigger" {
  project                      = var.project_id
  account_id                   = "${var.name}-trigger"
  create_ignore_already_exists = true
  display_name                 = "image-syncer Eventarc triggers (invokes the fan-out functions)"
  depends_on                   = [google_project_service.services]
}

resource "google_service_account" "push" {
  project                      = var.project_id
  account_id                   = "${var.name}-push"
  create_ignore_already_exists = true
  display_name                 = "image-syncer jobs push subscription (invokes the copy function)"
  depends_on                   = [google_project_service.services]
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

# --- copy: write to the one mirror repository, write run records, dead-letter jobs ---
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

# The copy function dead-letters a job itself after its own count of failures
# (functions.tf): publisher on the dead-letter topic only.
resource "google_pubsub_topic_iam_member" "copy_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.copy.member
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

# With trusted sources, the plan function also publishes a pull request's
# early jobs (only those it finds trusted; the copy function checks each again)
# and records their run. Nothing of this exists without trusted_sources.
resource "google_pubsub_topic_iam_member" "plan_publishes_early_jobs" {
  count   = local.mirrors_early ? 1 : 0
  project = var.project_id
  topic   = google_pubsub_topic.jobs.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.plan.member
}

resource "google_storage_bucket_iam_member" "plan_records_early_runs" {
  count  = local.mirrors_early ? 1 : 0
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.plan.member
}

# --- function builds ---
# Since July 2024 a new project's default Cloud Build identity may lack what a
# function build needs ("Custom Service Account for Cloud Build",
# https://cloud.google.com/functions/docs/securing/build-custom-sa, and
# https://cloud.google.com/build/docs/cloud-build-service-account-updates), so
# every function builds as this account (build_config.service_account), with
# the roles that page lists: logs, and the images and source objects of the
# build, each limited by an IAM condition to what Cloud Functions creates for
# its builds (the gcf-artifacts and cloud-run-source-deploy repositories, the
# gcf-v2-* buckets), never the mirror or the images and runs buckets.
resource "google_service_account" "build" {
  project                      = var.project_id
  account_id                   = "${var.name}-build"
  create_ignore_already_exists = true
  display_name                 = "image-syncer function builds (Cloud Build)"
  depends_on                   = [google_project_service.services]
}

resource "google_project_iam_member" "build_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_project_iam_member" "build_pushes_function_images" {
  project = var.project_id
  role    = "roles/artifactregistry.writer"
  member  = google_service_account.build.member
  # The repositories function builds push to (the page above), whatever form
  # of the project the resource name carries; never the mirror.
  condition {
    title      = "function build repositories only"
    expression = <<-EOT
      resource.name.endsWith("/repositories/gcf-artifacts") ||
      resource.name.contains("/repositories/gcf-artifacts/") ||
      resource.name.endsWith("/repositories/cloud-run-source-deploy") ||
      resource.name.contains("/repositories/cloud-run-source-deploy/")
    EOT
  }
}

resource "google_project_iam_member" "build_uses_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = google_service_account.build.member
  condition {
    title      = "gcf-v2 build buckets only"
    expression = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-\")"
  }
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# --- service agents ---
# Enabling an API does not create its agent; generateServiceIdentity does
# (google-beta only), and an agent created that way is not granted its service
# agent role (https://cloud.google.com/iam/docs/create-service-agents): the
# bootstrap (scripts/bootstrap-deployer.sh) creates both agents and grants
# roles/pubsub.serviceAgent and roles/eventarc.serviceAgent, which the deployer
# itself may not grant. Here they are read for their addresses.
resource "google_project_service_identity" "pubsub" {
  provider   = google-beta
  project    = var.project_id
  service    = "pubsub.googleapis.com"
  depends_on = [google_project_service.services]
}

resource "google_project_service_identity" "eventarc" {
  provider   = google-beta
  project    = var.project_id
  service    = "eventarc.googleapis.com"
  depends_on = [google_project_service.services]
}

# Where Terraform's state holds these two grants, it forgets them without
# destroying them: destroying either would revoke the role the bootstrap grants
# to the same agent.
removed {
  from = google_project_iam_member.pubsub_agent_role
  lifecycle {
    destroy = false
  }
}

removed {
  from = google_project_iam_member.eventarc_agent_role
  lifecycle {
    destroy = false
  }
}

# Cloud Storage's agent is not made by generateServiceIdentity
# (terraform-google-modules/terraform-google-project-factory#803); reading it
# through the Storage API creates it.
data "google_storage_project_service_account" "gcs" {
  project    = var.project_id
  depends_on = [google_project_service.services]
}

# --- triggers ---
# Cloud Storage publishes the bucket's events through Pub/Sub.
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

# Pub/Sub mints the push account's OIDC tokens, forwards dead letters, and
# acknowledges what it forwarded.
resource "google_service_account_iam_member" "pubsub_signs_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_project_service_identity.pubsub.member
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = google_project_service_identity.pubsub.member
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.jobs_push.name
  role         = "roles/pubsub.subscriber"
  member       = google_project_service_identity.pubsub.member
}

# --- waiting for grants to take effect ---
# A grant is not honoured everywhere at once: usually within 2 minutes, 7 or
# more at worst (https://cloud.google.com/iam/docs/access-change-propagation).
# A function created before then fails: an event-triggered one with
# "Permission denied while using the Eventarc Service Agent ... it may take a
# few minutes before all necessary permissions are propagated"
# (hashicorp/terraform-provider-google#25294, open;
# GoogleCloudPlatform/terraform-docs-samples#486), a build with its account's
# roles not yet in force. Creating the agents explicitly does not remove the
# delay, so every function waits here, after the grants and the secret version
# it needs, as Google's own solutions wait (a time_sleep after the Eventarc
# agent's role: GoogleCloudPlatform/terraform-ml-image-annotation-gcf,
# infra/main.tf). time_sleep (hashicorp/time,
# https://registry.terraform.io/providers/hashicorp/time/latest/docs/resources/sleep)
# waits create_duration when it is created, and again whenever a value in
# triggers changes: a grant added or replaced later waits before the functions
# that need it are updated.
resource "time_sleep" "grants_propagate" {
  create_duration = "${var.iam_propagation_seconds}s"
  triggers = {
    grants = join(" ", concat([
      google_project_iam_member.build_writes_logs.id,
      google_project_iam_member.build_pushes_function_images.id,
      google_project_iam_member.build_uses_function_sources.id,
      google_storage_bucket_iam_member.build_reads_source.id,
      google_project_iam_member.gcs_publishes_events.id,
      google_project_iam_member.trigger_receives_events.id,
      google_pubsub_topic_iam_member.copy_publishes_dead_letters.id,
      join(",", google_pubsub_topic_iam_member.plan_publishes_early_jobs[*].id),
      join(",", google_storage_bucket_iam_member.plan_records_early_runs[*].id),
      google_project_service_identity.eventarc.member,
      google_project_service_identity.pubsub.member,
      data.google_storage_project_service_account.gcs.member,
    ], [for grant in google_secret_manager_secret_iam_member.source_credentials : grant.id]))
  }
  depends_on = [
    google_project_iam_member.build_writes_logs,
    google_project_iam_member.build_pushes_function_images,
    google_project_iam_member.build_uses_function_sources,
    google_storage_bucket_iam_member.build_reads_source,
    google_project_iam_member.gcs_publishes_events,
    google_project_iam_member.trigger_receives_events,
    google_pubsub_topic_iam_member.copy_publishes_dead_letters,
    google_pubsub_topic_iam_member.plan_publishes_early_jobs,
    google_storage_bucket_iam_member.plan_records_early_runs,
    google_secret_manager_secret_iam_member.source_credentials,
    google_secret_manager_secret_version.source_credentials,
  ]
}
