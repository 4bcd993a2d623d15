# The mirror. Immutable tags make the registry itself refuse to move a tag,
# so the promise image-syncer makes holds even against other writers.
resource "google_artifact_registry_repository" "mirror" {
  count         = var.use_existing_repository ? 0 : 1
  project       = var.project_id
  location      = var.repository_location
  repository_id = var.repository_id
  description   = "Mirror of external container images, written by image-syncer."
  format        = "DOCKER"

  docker_config {
    immutable_tags = true
  }

  depends_on = [google_project_service.services]
}

data "google_artifact_registry_repository" "existing" {
  count         = var.use_existing_repository ? 1 : 0
  project       = var.project_id
  location      = var.repository_location
  repository_id = var.repository_id
  depends_on    = [google_project_service.services]
}
