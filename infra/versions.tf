terraform {
  required_version = ">= 1.6"

  # State in a bucket: terraform init -backend-config=bucket=STATE_BUCKET -backend-config=prefix=image-syncer
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
