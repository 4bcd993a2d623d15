# Optional source registry credentials (e.g. a Docker Hub token, to raise the
# pull rate limit), in Docker's config.json form, mounted into the functions as
# a file (SYNCER_SOURCE_CREDENTIALS_FILE). Either:
# - source_credentials: Terraform creates the secret AND its first version, so
#   the functions can read it when they deploy (the value is then in Terraform
#   state: keep the state bucket private); or
# - source_credentials_secret_id: a secret you created, with a version, before
#   the apply (the value never touches Terraform).
# With neither, the functions deploy with no secret at all.
# Cloud Run refuses to deploy a revision whose secret it cannot read, so the
# functions depend on these grants and on the version
# (https://cloud.google.com/run/docs/configuring/services/secrets).

locals {
  # Decided from the variables alone, so count and for_each are known at plan.
  create_credentials_secret = nonsensitive(var.source_credentials != "")
  credentials_enabled       = local.create_credentials_secret || var.source_credentials_secret_id != ""
  credentials_secret_id = (
    local.create_credentials_secret ? google_secret_manager_secret.source_credentials[0].secret_id
    : var.source_credentials_secret_id
  )
  credentials_mount = "/etc/secrets"
  credentials_file  = "config.json"

  # The volume and the variable every function that reads source registries gets.
  credentials_volumes = local.credentials_enabled ? [local.credentials_secret_id] : []
  credentials_env = local.credentials_enabled ? {
    SYNCER_SOURCE_CREDENTIALS_FILE = "${local.credentials_mount}/${local.credentials_file}"
  } : {}
}

resource "google_secret_manager_secret" "source_credentials" {
  count     = local.create_credentials_secret ? 1 : 0
  project   = var.project_id
  secret_id = "${var.name}-source-credentials"

  replication {
    auto {}
  }

  lifecycle {
    precondition {
      condition     = var.source_credentials_secret_id == ""
      error_message = "Set source_credentials or source_credentials_secret_id, not both."
    }
  }

  depends_on = [google_project_service.services]
}

resource "google_secret_manager_secret_version" "source_credentials" {
  count       = local.create_credentials_secret ? 1 : 0
  secret      = google_secret_manager_secret.source_credentials[0].id
  secret_data = var.source_credentials
}

resource "google_secret_manager_secret_iam_member" "source_credentials" {
  for_each = local.credentials_enabled ? {
    fanout = google_service_account.fanout.member
    copy   = google_service_account.copy.member
    api    = google_service_account.api.member
    plan   = google_service_account.plan.member
  } : {}
  project   = var.project_id
  secret_id = local.credentials_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}
