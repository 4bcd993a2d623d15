terraform {
  # 1.9: a variable's validation may read other variables (copy_concurrency).
  required_version = ">= 1.9"

  # State in a bucket: terraform init -backend-config=bucket=STATE_BUCKET -backend-config=prefix=image-syncer
  backend "gcs" {}

  required_providers {
    # Pinned to the provider whose schema test/infra checks every attribute,
    # block and reference against (test/infra/google-provider-schema.json,
    # derived by scripts/derive-provider-schema.ts). Move both together.
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50.0"
    }
    # Only for google_project_service_identity, which the GA provider lacks.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.50.0"
    }
    # Runs scripts/package-function-source.sh (the functions' source archive).
    external = {
      source  = "hashicorp/external"
      version = "~> 2.3"
    }
    # time_sleep: the waits for IAM and metric propagation (iam.tf, monitoring.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
