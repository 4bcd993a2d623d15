#!/usr/bin/env bash
# One-time bootstrap of a project for image-syncer's Terraform, run by a
# project owner with gcloud (infra/README.md, "Bootstrap"). Idempotent.
#
#   scripts/bootstrap-deployer.sh PROJECT_ID STATE_BUCKET [LOCATION] [NAME]
#
# NAME is Terraform's var.name (default image-syncer). Creates what Terraform
# cannot create for itself, or must not be able to grant:
# - the APIs Terraform needs before it can enable the others, and Pub/Sub's and
#   Eventarc's, whose service agents are created here with their service agent
#   roles (an agent created on request gets none:
#   https://cloud.google.com/iam/docs/create-service-agents), roles the deployer
#   may not grant;
# - the Terraform state bucket (versioned, uniform access, no public access);
# - every service account infra/*.tf declares, so that the deployer can be
#   given those accounts, and no others, to act as and administer;
# - image-syncer-deployer, the account cloudbuild.yaml runs as, with the roles
#   `terraform apply` needs: Project IAM Admin only for the roles infra/*.tf
#   grants on the project (an IAM condition on
#   iam.googleapis.com/modifiedGrantsByRole:
#   https://cloud.google.com/iam/docs/setting-limits-on-granting-roles), and
#   Service Account User and Admin on the accounts above only;
# - image-syncer-tests, the account cloudbuild-tests.yaml runs as: its own logs.
# test/infra/bootstrap.test.ts runs this script against a recording gcloud and
# checks every list below against infra/*.tf.
set -euo pipefail

usage="usage: bootstrap-deployer.sh PROJECT_ID STATE_BUCKET [LOCATION] [NAME]"
project=${1:?$usage}
bucket=${2:?$usage}
location=${3:-europe-west1}
name=${4:-image-syncer}
deployer="image-syncer-deployer@${project}.iam.gserviceaccount.com"
tests="image-syncer-tests@${project}.iam.gserviceaccount.com"

# The accounts infra/*.tf declares (account_id "${var.name}-<this>").
accounts=(fanout copy api plan trigger push build gh-reader gh-writer)
# Those something runs as (a function, a build, a trigger, the push
# subscription): deploying it needs iam.serviceAccounts.actAs on the account.
acts_as=(fanout copy api plan trigger push build)
# The roles infra/*.tf grants on the project: the only ones the deployer may
# grant there, to anyone.
grantable=(
  roles/logging.logWriter
  roles/artifactregistry.writer
  roles/storage.objectAdmin
  roles/pubsub.publisher
  roles/eventarc.eventReceiver
)
# The deployer's project roles, each for what infra/*.tf creates.
roles=(
  roles/serviceusage.serviceUsageAdmin # google_project_service, google_project_service_identity
  roles/iam.serviceAccountCreator      # google_service_account (adopting the accounts created below)
  roles/iam.workloadIdentityPoolAdmin  # the GitHub pool and provider
  roles/storage.admin                  # buckets, their IAM, the source archive
  roles/pubsub.admin                   # topics, subscriptions, their IAM
  roles/artifactregistry.admin         # the mirror repository and its IAM
  roles/cloudfunctions.admin           # the five functions
  roles/run.admin                      # run.invoker on the functions' services
  roles/eventarc.admin                 # the functions' event triggers
  roles/secretmanager.admin            # the optional credentials secret, its version and IAM
  roles/logging.logWriter              # this build's own logs (CLOUD_LOGGING_ONLY)
  roles/logging.configWriter           # log-based metrics (infra/monitoring.tf)
  roles/monitoring.editor              # alert policies and dashboards (infra/monitoring.tf)
)

# Terraform enables every other API itself (infra/main.tf), through these.
gcloud services enable --project="$project" \
  serviceusage.googleapis.com cloudresourcemanager.googleapis.com iam.googleapis.com \
  cloudbuild.googleapis.com storage.googleapis.com pubsub.googleapis.com eventarc.googleapis.com

if ! gcloud storage buckets describe "gs://${bucket}" --project="$project" >/dev/null 2>&1; then
  gcloud storage buckets create "gs://${bucket}" --project="$project" --location="$location" \
    --uniform-bucket-level-access --public-access-prevention
fi
gcloud storage buckets update "gs://${bucket}" --versioning

bind_project() { # MEMBER ROLE [CONDITION_FILE]
  local condition=--condition=None
  if [ -n "${3:-}" ]; then condition=--condition-from-file="$3"; fi
  gcloud projects add-iam-policy-binding "$project" --member="$1" --role="$2" --quiet \
    "$condition" >/dev/null
}

for service in pubsub eventarc; do
  agent=$(gcloud beta services identity create --service="${service}.googleapis.com" \
    --project="$project" --format='value(email)')
  bind_project "serviceAccount:${agent}" "roles/${service}.serviceAgent"
done

create_account() { # ID DISPLAY_NAME
  if ! gcloud iam service-accounts describe "$1@${project}.iam.gserviceaccount.com" \
    --project="$project" >/dev/null 2>&1; then
    gcloud iam service-accounts create "$1" --project="$project" --display-name="$2"
  fi
}
for account in "${accounts[@]}"; do create_account "${name}-${account}" "image-syncer ${account}"; done
create_account image-syncer-deployer "image-syncer Terraform (Cloud Build)"
create_account image-syncer-tests "image-syncer tests (Cloud Build, no roles but its logs)"

for role in "${roles[@]}"; do bind_project "serviceAccount:${deployer}" "$role"; done
condition=$(mktemp)
trap 'rm -f "$condition"' EXIT
quoted=$(printf "'%s', " "${grantable[@]}")
cat >"$condition" <<EOF
title: image-syncer project grants only
description: The roles infra/*.tf grants on the project, and no other.
expression: api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${quoted%, }])
EOF
bind_project "serviceAccount:${deployer}" roles/resourcemanager.projectIamAdmin "$condition"

bind_account() { # ACCOUNT_ID ROLE
  gcloud iam service-accounts add-iam-policy-binding "$1@${project}.iam.gserviceaccount.com" \
    --project="$project" --member="serviceAccount:${deployer}" --role="$2" --quiet >/dev/null
}
for account in "${accounts[@]}"; do bind_account "${name}-${account}" roles/iam.serviceAccountAdmin; done
for account in "${acts_as[@]}"; do bind_account "${name}-${account}" roles/iam.serviceAccountUser; done

gcloud storage buckets add-iam-policy-binding "gs://${bucket}" \
  --member="serviceAccount:${deployer}" --role=roles/storage.objectAdmin >/dev/null
bind_project "serviceAccount:${tests}" roles/logging.logWriter

echo "bootstrap: ${deployer} is ready; state in gs://${bucket}; tests run as ${tests}."
echo "Whoever starts builds needs roles/iam.serviceAccountUser on ${deployer} (and on ${tests} for the tests)."
