# GitHub Actions sign in with OIDC (workload identity federation). Only the
# configured organisation's runs of the reusable workflow at the configured ref
# are let in; the organisation is pinned by its numeric ID (repository_owner_id),
# which, unlike its name, can never pass to someone else. pull_request_target
# runs get the reader identity, which may only invoke the plan function. Only
# pushes to the callers' default branch (writer_ref; protected, unless turned
# off; optionally only from writer_repository_ids and only in the GitHub
# environment writer_environment) get the writer identity, which may sync: a
# push to any other branch cannot write to the mirror, whose tags are immutable
# forever. Who can become the writer in each setting: infra/README.md.
# Claims: https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
# Mappings and conditions are CEL: https://cloud.google.com/iam/docs/workload-identity-federation#mapping

locals {
  github_principals = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}"
  # A pull_request_target token also carries ref = the base branch, so the
  # writer's attribute joins the ref to the event: it is the ref for pushes
  # only, and never matches anything else.
  push_ref_mapping = "assertion.event_name == 'push' ? assertion.ref : 'not-a-push'"
  # google.subject (the principal in audit logs) must fit in 127 bytes, or the
  # exchange fails ("The size of mapped attribute exceeds the 127 bytes limit",
  # google-github-actions/auth docs/TROUBLESHOOTING.md); assertion.sub holds the
  # organisation, repository and ref names and can exceed it. Numeric IDs and
  # the event name always fit, and still name the repository and the run.
  subject_mapping = "'gh:' + assertion.repository_id + ':' + assertion.event_name + ':' + assertion.run_id + ':' + assertion.run_attempt"
  # Who may be the writer, besides a push to writer_ref (the binding below):
  # each gate is on for pushes, and a no-op where its variable leaves it unset,
  # so this text is the condition for every setting (test/infra renders it and
  # evaluates it against GitHub's claims). GitHub sends every claim as a string.
  writer_gates = [
    "(assertion.event_name != 'push' || ${var.writer_requires_protected_ref} == false || assertion.ref_protected == 'true')",
    "(assertion.event_name != 'push' || ${jsonencode(var.writer_repository_ids)} == [] || assertion.repository_id in ${jsonencode(var.writer_repository_ids)})",
    "(assertion.event_name != 'push' || '${var.writer_environment}' == '' || (has(assertion.environment) && assertion.environment == '${var.writer_environment}'))",
  ]
  # Every run: the organisation by its ID, and the reusable workflow at its ref.
  workflow_gates = [
    "assertion.repository_owner_id == '${var.github_organization_id}'",
    "assertion.job_workflow_ref == '${var.workflow_repository}/.github/workflows/image-syncer.yml@${var.workflow_ref}'",
  ]
  workflow_condition = join(" && ", concat(local.workflow_gates, local.writer_gates))
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
    "google.subject"                = local.subject_mapping
    "attribute.repository"          = "assertion.repository"
    "attribute.repository_id"       = "assertion.repository_id"
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
