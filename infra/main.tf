# Every API first: every other resource depends on these, directly or through
# what it references (test/infra checks it). The serviceusage API itself must
# already be on (the bootstrap in infra/README.md turns it on).
locals {
  services = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    # Project IAM (google_project_iam_member) and project lookups go through
    # Resource Manager; a fresh project does not have it on.
    "cloudresourcemanager.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    # The function builds' logs; log-based metrics and alerts.
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
  ]

  repository_id   = var.use_existing_repository ? data.google_artifact_registry_repository.existing[0].repository_id : google_artifact_registry_repository.mirror[0].repository_id
  repository_name = var.use_existing_repository ? data.google_artifact_registry_repository.existing[0].name : google_artifact_registry_repository.mirror[0].name
  target_prefix   = "${var.repository_location}-docker.pkg.dev/${var.project_id}/${var.repository_id}/${var.target_path == "" ? "" : "${var.target_path}/"}"
}

resource "google_project_service" "services" {
  for_each           = toset(local.services)
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
