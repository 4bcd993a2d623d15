# GitHub Actions sign in with OIDC (workload identity federation). Only the
# configured organisation's runs of the reusable workflow at the configured ref
# are let in; the organisation is pinned by its numeric ID (repository_owner_id),
# which, unlike its name, can never pass to someone else. pull_request_target
# runs get the reader identity, which may only invoke the plan function. Only
# pushes to the callers' default branch (writer_ref; protected, unless turned
# off) get the writer identity, which may sync: a push to any other branch
# cannot write to the mirror, whose tags are immutable forever.
# Claims: https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
# Mappings and conditions are CEL: https://cloud.google.com/iam/docs/workload-identity-federation#mapping

locals {
  github_principals = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}"
  # A pull_request_target token also carries ref = the base branch, so the
  # writer's attribute joins the ref to the event: it is the ref for pushes
  # only, and never matches anything else.
  push_ref_mapping = "assertion.event_name == 'push' ? assertion.ref : 'not-a-push'"
  workflow_condition = join(" && ", concat([
    "assertion.repository_owner_id == '${var.github_organization_id}'",
    "assertion.job_workflow_ref == '${var.workflow_repository}/.github/workflows/image-syncer.yml@${var.workflow_ref}'",
    ], var.writer_requires_protected_ref ? [
    # GitHub sends ref_protected as the string "true" or "false".
    "(assertion.event_name != 'push' || assertion.ref_protected == 'true')",
  ] : []))
}

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
    "google.subject"                = "assertion.sub"
    "attribute.repository"          = "assertion.repository"
    "attribute.repository_owner_id" = "assertion.repository_owner_id"
    "attribute.job_workflow_ref"    = "assertion.job_workflow_ref"
    "attribute.event_name"          = "assertion.event_name"
    "attribute.ref"                 = "assertion.ref"
    "attribute.push_ref"            = local.push_ref_mapping
  }

  attribute_condition = local.workflow_condition

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

# Both identities are created by the bootstrap and adopted here (iam.tf).
resource "google_service_account" "github_reader" {
  project                      = var.project_id
  account_id                   = "${var.name}-gh-reader"
  create_ignore_already_exists = true
  display_name                 = "image-syncer GitHub pull_request_target runs (plan only)"
  depends_on                   = [google_project_service.services]
}

resource "google_service_account" "github_writer" {
  project                      = var.project_id
  account_id                   = "${var.name}-gh-writer"
  create_ignore_already_exists = true
  display_name                 = "image-syncer GitHub push runs to the default branch (sync)"
  depends_on                   = [google_project_service.services]
}

resource "google_service_account_iam_member" "reader_federation" {
  service_account_id = google_service_account.github_reader.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.github_principals}/attribute.event_name/pull_request_target"
}

resource "google_service_account_iam_member" "writer_federation" {
  service_account_id = google_service_account.github_writer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.github_principals}/attribute.push_ref/${var.writer_ref}"
}

# Both identities mint ID tokens for themselves (the workflow's auth step).
resource "google_service_account_iam_member" "reader_mints_id_tokens" {
  service_account_id = google_service_account.github_reader.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = "${local.github_principals}/attribute.event_name/pull_request_target"
}

resource "google_service_account_iam_member" "writer_mints_id_tokens" {
  service_account_id = google_service_account.github_writer.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = "${local.github_principals}/attribute.push_ref/${var.writer_ref}"
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
