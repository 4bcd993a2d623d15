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

data "archive_file" "source" {
  type        = "zip"
  source_dir  = coalesce(var.function_source_dir, "${path.module}/..")
  output_path = "${path.module}/.build/image-syncer-source.zip"
  excludes = [
    ".git",
    ".github",
    ".ci",
    "node_modules",
    "dist",
    "infra",
    "test",
    "bench",
    "scripts",
  ]
}

resource "google_storage_bucket_object" "source" {
  name   = "image-syncer-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}
