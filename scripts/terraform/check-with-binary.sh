#!/bin/sh
# What only the terraform binary can check, offline (no providers, no state):
# infra/ formatted as `terraform fmt` writes it, and infra/variables.tf's
# validations refusing the values a deployment cannot work with, as Terraform
# evaluates them (a configuration of variables alone plans without providers).
# The test suite checks the rest of infra/ without the binary (test/infra/);
# this runs where the binary is: cloudbuild-tests.yaml's terraform step, or
# by hand (`sh scripts/terraform/check-with-binary.sh`). POSIX sh, so it runs
# in the hashicorp/terraform image (busybox).
set -eu
cd "$(dirname "$0")/../.."

export TF_IN_AUTOMATION=1
TF_CLI_CONFIG_FILE=$(mktemp) # no ~/.terraformrc, no plugin cache of the caller's
export TF_CLI_CONFIG_FILE
failed=0
fail() {
  echo "check-with-binary: FAIL: $*" >&2
  failed=1
}

if ! diff=$(terraform fmt -check -recursive -diff infra 2>&1); then
  fail "terraform fmt would change infra/:"
  echo "$diff" >&2
fi

work=$(mktemp -d)
cp infra/variables.tf "$work/"
# plan_variables EXPECTED_MESSAGE|ok -var k=v ...: the variables alone, with the required ones set.
plan_variables() {
  expected=$1
  shift
  if output=$(cd "$work" && terraform plan -input=false -lock=false -no-color \
    -var project_id=acme-mirror-prod -var images_bucket_name=acme-images \
    -var runs_bucket_name=acme-runs -var github_organization_id=1234567 \
    -var workflow_repository=acme/image-syncer "$@" 2>&1); then
    [ "$expected" = ok ] || fail "$* was accepted; expected: $expected"
  else
    flat=$(printf '%s' "$output" | tr -s ' \n' '  ')
    if [ "$expected" = ok ]; then
      fail "$* was refused: $output"
    elif ! printf '%s' "$flat" | grep -q -- "$expected"; then
      fail "$* was refused, but not with \"$expected\": $output"
    fi
  fi
}

plan_variables ok
plan_variables ok -var copy_concurrency=1 -var copy_cpu=0.5
plan_variables 'copy_concurrency above 1 needs copy_cpu of at least 1' -var copy_concurrency=4 -var copy_cpu=0.5
plan_variables 'copy_cpu must be a positive number of vCPUs' -var copy_cpu=one
plan_variables 'writer_repository_ids must be numeric repository IDs' -var 'writer_repository_ids=["acme/app"]'
plan_variables 'writer_environment must be a GitHub environment name' -var "writer_environment=pro'd"
plan_variables 'iam_propagation_seconds must be between 0 and 1800' -var iam_propagation_seconds=5000
plan_variables 'trusted_sources: each pattern names its registry host' -var 'trusted_sources=["*/acme/*"]'
rm -rf "$work" "$TF_CLI_CONFIG_FILE"

if [ "$failed" -ne 0 ]; then exit 1; fi
echo "check-with-binary: infra/ formatted; variable validations refuse all 6 mistakes and accept 2 good sets"
