output "target_prefix" {
  description = "Where images are mirrored: <prefix><path>:<tag>."
  value       = local.target_prefix
}

output "repository" {
  description = "The mirror repository (immutable tags)."
  value       = local.repository_name
}

output "images_bucket" {
  description = "Upload external-images.yaml here to start a run."
  value       = google_storage_bucket.images.name
}

output "runs_bucket" {
  description = "Run records: runs/<runId>/run.json and runs/<runId>/results/."
  value       = google_storage_bucket.runs.name
}

output "requests_topic" {
  description = "Publish a request here from CI (the YAML, or {\"imagesFile\": \"gs://...\"})."
  value       = google_pubsub_topic.requests.id
}

output "jobs_topic" {
  description = "One message per image, consumed by the copy function."
  value       = google_pubsub_topic.jobs.id
}

output "dead_letter_subscription" {
  description = "Jobs that failed on every attempt, kept for inspection."
  value       = google_pubsub_subscription.dead_letter_keep.id
}

output "api_url" {
  description = "The HTTP function for POST /plan, POST /sync and GET /runs/{id} (writer identity)."
  value       = google_cloudfunctions2_function.api.service_config[0].uri
}

output "plan_url" {
  description = "The HTTP function for POST /plan and GET /runs/{id} (reader identity)."
  value       = google_cloudfunctions2_function.plan.service_config[0].uri
}

output "workload_identity_provider" {
  description = "For google-github-actions/auth: workload_identity_provider."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "github_reader_service_account" {
  description = "Identity of pull_request_target runs: may invoke the plan function only."
  value       = google_service_account.github_reader.email
}

output "github_writer_service_account" {
  description = "Identity of push runs: may invoke the api function (sync)."
  value       = google_service_account.github_writer.email
}

# Everything the reusable workflow reads, as organisation variables (name →
# value): `terraform output -json github_organization_variables`. The workflow
# checks a push against the writer's requirements before it asks for a token,
# so it says what a refused run lacks.
output "github_organization_variables" {
  description = "The GitHub organisation variables the reusable workflow reads (Settings, Secrets and variables, Actions, Variables)."
  value = {
    IMAGE_SYNCER_API_URL                       = google_cloudfunctions2_function.api.service_config[0].uri
    IMAGE_SYNCER_PLAN_URL                      = google_cloudfunctions2_function.plan.service_config[0].uri
    IMAGE_SYNCER_WORKLOAD_IDENTITY_PROVIDER    = google_iam_workload_identity_pool_provider.github.name
    IMAGE_SYNCER_READER_SERVICE_ACCOUNT        = google_service_account.github_reader.email
    IMAGE_SYNCER_WRITER_SERVICE_ACCOUNT        = google_service_account.github_writer.email
    IMAGE_SYNCER_WRITER_REF                    = var.writer_ref
    IMAGE_SYNCER_WRITER_REQUIRES_PROTECTED_REF = tostring(var.writer_requires_protected_ref)
    IMAGE_SYNCER_WRITER_REPOSITORY_IDS         = join(",", var.writer_repository_ids)
    IMAGE_SYNCER_WRITER_ENVIRONMENT            = var.writer_environment
  }
}
