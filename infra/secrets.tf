# Optional source registry credentials (e.g. a Docker Hub token, to raise the
# pull rate limit), in Docker's config.json form. Terraform creates the secret;
# its value is added out of band so it never sits in Terraform state:
#   gcloud secrets versions add image-syncer-source-credentials --data-file=config.json
resource "google_secret_manager_secret" "source_credentials" {
  count     = var.source_credentials_secret ? 1 : 0
  project   = var.project_id
  secret_id = "${var.name}-source-credentials"

  replication {
    auto {}
  }

  depends_on = [google_project_service.services]
}

locals {
  source_credentials_secret_id = var.source_credentials_secret ? google_secret_manager_secret.source_credentials[0].secret_id : null
}

resource "google_secret_manager_secret_iam_member" "source_credentials" {
  for_each = var.source_credentials_secret ? {
    fanout = google_service_account.fanout.member
    copy   = google_service_account.copy.member
    api    = google_service_account.api.member
    plan   = google_service_account.plan.member
  } : {}
  project   = var.project_id
  secret_id = google_secret_manager_secret.source_credentials[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}
