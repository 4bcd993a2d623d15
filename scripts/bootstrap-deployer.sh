#!/usr/bin/env bash
# One-time bootstrap of a project for image-syncer's Terraform, run by a
# project owner with gcloud (infra/README.md, "Bootstrap"). Idempotent.
#
#   scripts/bootstrap-deployer.sh PROJECT_ID STATE_BUCKET [LOCATION]
#
# Creates what Terraform cannot create for itself:
# - the APIs Terraform needs before it can enable the others;
# - the Terraform state bucket (versioned, uniform access, no public access);
# - image-syncer-deployer, the service account cloudbuild.yaml runs as, with
#   the roles `terraform apply` needs and nothing project-owner-wide.
set -euo pipefail

project=${1:?usage: bootstrap-deployer.sh PROJECT_ID STATE_BUCKET [LOCATION]}
bucket=${2:?usage: bootstrap-deployer.sh PROJECT_ID STATE_BUCKET [LOCATION]}
location=${3:-europe-west1}
account="image-syncer-deployer@${project}.iam.gserviceaccount.com"

# Terraform enables every other API itself (infra/main.tf), through these.
gcloud services enable --project="$project" \
  serviceusage.googleapis.com cloudresourcemanager.googleapis.com iam.googleapis.com \
  cloudbuild.googleapis.com storage.googleapis.com

if ! gcloud storage buckets describe "gs://${bucket}" --project="$project" >/dev/null 2>&1; then
  gcloud storage buckets create "gs://${bucket}" --project="$project" --location="$location" \
    --uniform-bucket-level-access --public-access-prevention
fi
gcloud storage buckets update "gs://${bucket}" --versioning

if ! gcloud iam service-accounts describe "$account" --project="$project" >/dev/null 2>&1; then
  gcloud iam service-accounts create image-syncer-deployer --project="$project" \
    --display-name="image-syncer Terraform (Cloud Build)"
fi

# What infra/*.tf creates, role by role.
roles=(
  roles/serviceusage.serviceUsageAdmin    # google_project_service, google_project_service_identity
  roles/resourcemanager.projectIamAdmin   # google_project_iam_member
  roles/iam.serviceAccountAdmin           # google_service_account and its IAM members
  roles/iam.serviceAccountUser            # deploy functions that run and build as those accounts
  roles/iam.workloadIdentityPoolAdmin     # the GitHub pool and provider
  roles/storage.admin                     # buckets, their IAM, the source archive
  roles/pubsub.admin                      # topics, subscriptions, their IAM
  roles/artifactregistry.admin            # the mirror repository and its IAM
  roles/cloudfunctions.admin              # the five functions
  roles/run.admin                         # run.invoker on the functions' services
  roles/eventarc.admin                    # the functions' event triggers
  roles/secretmanager.admin               # the optional credentials secret, its version and IAM
  roles/logging.logWriter                 # this build's own logs (CLOUD_LOGGING_ONLY)
  roles/logging.configWriter              # log-based metrics (infra/monitoring.tf)
  roles/monitoring.editor                 # alert policies and dashboards (infra/monitoring.tf)
)
for role in "${roles[@]}"; do
  gcloud projects add-iam-policy-binding "$project" --condition=None --quiet \
    --member="serviceAccount:${account}" --role="$role" >/dev/null
done
gcloud storage buckets add-iam-policy-binding "gs://${bucket}" \
  --member="serviceAccount:${account}" --role=roles/storage.objectAdmin >/dev/null

echo "bootstrap: ${account} is ready; state in gs://${bucket}."
echo "Whoever starts builds needs roles/iam.serviceAccountUser on ${account}."
