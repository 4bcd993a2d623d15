# GitHub Actions sign in with OIDC (workload identity federation). Only the
# configured organisation's runs of the reusable workflow at the configured ref
# are let in. pull_request_target runs get the reader identity, which may only
# invoke the plan function; push runs get the writer identity, which may sync.

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = "${var.name}-github"
  display_name              = "image-syncer GitHub"
  depends_on                = [google_project_service.services]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub Actions"

  attribute_mapping = {
    "google.subject"             = "assertion.sub"
    "attribute.repository"       = "assertion.repository"
    "attribute.repository_owner" = "assertion.repository_owner"
    "attribute.job_workflow_ref" = "assertion.job_workflow_ref"
    "attribute.event_name"       = "assertion.event_name"
  }

  attribute_condition = "assertion.repository_owner == '${var.github_organization}' && assertion.job_workflow_ref == '${var.workflow_repository}/.github/workflows/image-syncer.yml@${var.workflow_ref}'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "github_reader" {
  project      = var.project_id
  account_id   = "${var.name}-gh-reader"
  display_name = "image-syncer GitHub pull_request_target runs (plan only)"
}

resource "google_service_account" "github_writer" {
  project      = var.project_id
  account_id   = "${var.name}-gh-writer"
  display_name = "image-syncer GitHub push runs (sync)"
}

resource "google_service_account_iam_member" "reader_federation" {
  service_account_id = google_service_account.github_reader.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.event_name/pull_request_target"
}

resource "google_service_account_iam_member" "writer_federation" {
  service_account_id = google_service_account.github_writer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.event_name/push"
}

# Both identities mint ID tokens for themselves (the workflow's auth step).
resource "google_service_account_iam_member" "reader_mints_id_tokens" {
  service_account_id = google_service_account.github_reader.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.event_name/pull_request_target"
}

resource "google_service_account_iam_member" "writer_mints_id_tokens" {
  service_account_id = google_service_account.github_writer.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.event_name/push"
}

resource "google_cloud_run_service_iam_member" "reader_invokes_plan" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.plan.name
  role     = "roles/run.invoker"
  member   = google_service_account.github_reader.member
}

resource "google_cloud_run_service_iam_member" "writer_invokes_api" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.api.name
  role     = "roles/run.invoker"
  member   = google_service_account.github_writer.member
}
