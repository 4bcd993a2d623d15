# Teams upload external-images.yaml here; every finalized object starts a run.
resource "google_storage_bucket" "images" {
  project                     = var.project_id
  name                        = var.images_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  depends_on = [google_project_service.services]
}

# Run records: runs/<runId>/run.json and runs/<runId>/results/<job>.json.
resource "google_storage_bucket" "runs" {
  project                     = var.project_id
  name                        = var.runs_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.run_record_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.services]
}

# The functions' source archives.
resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.services]
}

# The functions' source: the files the build needs (package.json, the lock
# file, the tsconfigs, functions/) with their working-tree content, archived by
# scripts/package-function-source.sh: in a git checkout only what git tracks
# (never an untracked .env, Docker config.json or log), without .git (a build
# started by a repository trigger) every file under those paths, refusing
# secret-looking files either way. The archive is named by a digest of its
# content and its bytes depend on nothing else, so an unchanged source uploads
# nothing and redeploys nothing.
data "external" "source" {
  program = ["sh", "${path.module}/../scripts/package-function-source.sh", "${path.module}/.build"]
}

resource "google_storage_bucket_object" "source" {
  name   = "image-syncer-${data.external.source.result.digest}.zip"
  bucket = google_storage_bucket.source.name
  source = data.external.source.result.path
}
