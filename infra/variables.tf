variable "project_id" {
  description = "Google Cloud project that hosts the mirror and the functions."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project ID (6-30 lower-case letters, digits and dashes)."
  }
}

variable "region" {
  description = "Region of the functions, buckets and the Artifact Registry repository (e.g. europe-west1)."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix for every resource name (topics, functions, service accounts)."
  type        = string
  default     = "image-syncer"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,16}$", var.name))
    error_message = "name must be 3-17 lower-case letters, digits or dashes, starting with a letter (service account IDs are short)."
  }
}

variable "repository_id" {
  description = "ID of the Artifact Registry Docker repository that holds the mirror."
  type        = string
  default     = "external"
  validation {
    # The function builds may push to these two (iam.tf); the mirror must be neither.
    condition     = !contains(["gcf-artifacts", "cloud-run-source-deploy"], var.repository_id)
    error_message = "repository_id must not be gcf-artifacts or cloud-run-source-deploy, which function builds write to."
  }
}

variable "repository_location" {
  description = "Location of the mirror repository: a region or a multi-region such as europe (then images are at europe-docker.pkg.dev)."
  type        = string
  default     = "europe"
}

variable "use_existing_repository" {
  description = "Use an existing repository named repository_id instead of creating one. Turn on its immutable tags yourself."
  type        = bool
  default     = false
}

variable "target_path" {
  description = "Path inside the repository under which images are mirrored (the prefix is <location>-docker.pkg.dev/<project>/<repository>/<target_path>/)."
  type        = string
  default     = ""
  validation {
    condition     = var.target_path == "" || can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", var.target_path))
    error_message = "target_path must be lower-case path components separated by '/', with no leading or trailing '/'."
  }
}

variable "images_bucket_name" {
  description = "Name of the bucket teams upload external-images.yaml to (globally unique)."
  type        = string
}

variable "runs_bucket_name" {
  description = "Name of the bucket that keeps run records (globally unique)."
  type        = string
}

variable "run_record_retention_days" {
  description = "Run records older than this are deleted."
  type        = number
  default     = 90
  validation {
    condition     = var.run_record_retention_days >= 1
    error_message = "run_record_retention_days must be at least 1."
  }
}

variable "images_file_pattern" {
  description = "Comma-separated globs of object names in the images bucket that start a run."
  type        = string
  default     = "*.yaml,*.yml"
}

variable "max_delivery_attempts" {
  description = "Deliveries of one job before the jobs subscription itself moves it to the dead-letter topic (Pub/Sub allows 5 to 100): a backstop behind the copy function's own count (copy_max_failures). Every delivery counts, also the 429s of busy copy instances and the hand-backs while a source's pull budget is spent: see Sizing in infra/README.md before lowering it."
  type        = number
  default     = 100
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "copy_max_failures" {
  description = "Transient failures of one job (network, 5xx, deadline; rate limits not counted) after which the copy function dead-letters it itself (SYNCER_MAX_DELIVERY_ATTEMPTS). Must stay below max_delivery_attempts with room for the waits: see Sizing in infra/README.md."
  type        = number
  default     = 5
  validation {
    condition     = var.copy_max_failures >= 1 && var.copy_max_failures <= 100
    error_message = "copy_max_failures must be between 1 and 100."
  }
}

variable "copy_rate_limit_wait_seconds" {
  description = "How long the copy function waits out a source's 429 in-process before it hands the delivery back to Pub/Sub (SYNCER_RATE_LIMIT_WAIT_SECONDS)."
  type        = number
  default     = 10
  validation {
    condition     = var.copy_rate_limit_wait_seconds >= 0 && var.copy_rate_limit_wait_seconds <= 300
    error_message = "copy_rate_limit_wait_seconds must be between 0 and 300."
  }
}

variable "pull_budget_margin" {
  description = "Pulls kept in reserve below a source's announced remaining budget (Docker Hub): a run estimated above remaining minus this margin is refused before anything is published (SYNCER_PULL_BUDGET_MARGIN, fan-outs and /sync)."
  type        = number
  default     = 10
  validation {
    condition     = var.pull_budget_margin >= 0 && var.pull_budget_margin <= 100000
    error_message = "pull_budget_margin must be between 0 and 100000."
  }
}

variable "copy_max_instances" {
  description = "Most copy function instances at once. Instances × copy_concurrency bounds the copies in flight, hence the load on upstream registries (Docker Hub rate limits)."
  type        = number
  default     = 10
  validation {
    condition     = var.copy_max_instances >= 1 && var.copy_max_instances <= 1000
    error_message = "copy_max_instances must be between 1 and 1000."
  }
}

variable "target_quota_share" {
  description = "The share of Artifact Registry's per-project, per-region quota (target_quota_requests_per_minute, target_quota_writes_per_minute) image-syncer may use at most, all its instances together; the rest stays for builds and people pulling."
  type        = number
  default     = 0.5
  validation {
    condition     = var.target_quota_share > 0 && var.target_quota_share <= 1
    error_message = "target_quota_share must be above 0 and at most 1."
  }
}

variable "target_quota_requests_per_minute" {
  description = "Artifact Registry's requests per minute per project and region: 60,000 unless the project was granted more (https://cloud.google.com/artifact-registry/quotas)."
  type        = number
  default     = 60000
}

variable "target_quota_writes_per_minute" {
  description = "Artifact Registry's write requests per minute per project and region: 18,000 unless the project was granted more (https://cloud.google.com/artifact-registry/quotas)."
  type        = number
  default     = 18000
}

variable "trusted_sources" {
  description = "Repository patterns a pull request may mirror before it is merged (ghcr.io/acme/*, europe-docker.pkg.dev/p/releases/**: * one path component, ** one or more; the host written out). Empty: a pull request only plans."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for p in var.trusted_sources : !startswith(p, "*") && length(split("/", p)) >= 2])
    error_message = "trusted_sources: each pattern names its registry host (no wildcard host) and a repository path, e.g. ghcr.io/acme/*."
  }
}

variable "trust_fork_pull_requests" {
  description = "Let pull requests from forks mirror trusted sources early too. Off: only pull requests from the repository itself do."
  type        = bool
  default     = false
}

variable "copy_concurrency" {
  description = "Jobs one copy function instance serves at once (max_instance_request_concurrency). More than 1 needs copy_cpu of at least 1."
  type        = number
  default     = 4
  validation {
    condition     = var.copy_concurrency >= 1 && var.copy_concurrency <= 1000
    error_message = "copy_concurrency must be between 1 and 1000."
  }
  # Cloud Run serves concurrent requests only with at least one vCPU
  # (https://cloud.google.com/run/docs/configuring/services/cpu, "fractional CPU";
  # the apply would otherwise fail in the Cloud Functions API).
  validation {
    condition     = var.copy_concurrency == 1 || try(tonumber(var.copy_cpu), 0) >= 1
    error_message = "copy_concurrency above 1 needs copy_cpu of at least 1 (Cloud Run serves concurrent requests only with a whole vCPU or more)."
  }
}

variable "copy_cpu" {
  description = "vCPUs of a copy function instance, a number such as 1 or 2 (Cloud Run needs at least 1 to serve concurrent requests)."
  type        = string
  default     = "1"
  validation {
    condition     = can(tonumber(var.copy_cpu)) && try(tonumber(var.copy_cpu), 0) > 0
    error_message = "copy_cpu must be a positive number of vCPUs, such as 1 or 2."
  }
}

variable "copy_memory" {
  description = "Memory of a copy function instance, shared by its copy_concurrency jobs; blobs are streamed, never held."
  type        = string
  default     = "1Gi"
}

variable "allowed_source_registries" {
  description = "Registries images may be mirrored from (host or *.suffix). Empty: docker.io, ghcr.io, quay.io, gcr.io, *.gcr.io, *.pkg.dev, registry.k8s.io, mcr.microsoft.com, public.ecr.aws, registry.gitlab.com, nvcr.io."
  type        = list(string)
  default     = []
}

variable "required_platforms" {
  description = "Platforms (os/arch[/variant], e.g. linux/amd64) every image must have unless its entry or images file says otherwise; an image lacking one is refused whole (PLATFORM_MISSING). Empty: no requirement."
  type        = list(string)
  default     = []
}

variable "copy_referrers" {
  description = "Copy each image's OCI referrers and cosign .sig/.att/.sbom tags with it (SYNCER_REFERRERS)."
  type        = bool
  default     = true
}

variable "require_signature" {
  description = "Refuse every image without a signature or attestation in its source (SIGNATURE_REQUIRED), writing nothing of it (SYNCER_REQUIRE_SIGNATURE). Entries can also ask for it with requireSignature: true."
  type        = bool
  default     = false
}

variable "source_credentials" {
  description = "Source registry credentials (Docker config.json text). Terraform stores them as a new secret version, so they are in Terraform state: keep the state bucket private, or use source_credentials_secret_id instead."
  type        = string
  default     = ""
  sensitive   = true
}

variable "source_credentials_secret_id" {
  description = "ID of an existing Secret Manager secret in the project, holding at least one version of Docker config.json text, created out of band before the apply. The value never touches Terraform."
  type        = string
  default     = ""
}

variable "github_organization_id" {
  description = "Numeric ID of the GitHub organisation whose repositories may call image-syncer (gh api orgs/ORG --jq .id). The ID, not the name: a name can be given up and registered by someone else."
  type        = string
  validation {
    condition     = can(regex("^[0-9]+$", var.github_organization_id))
    error_message = "github_organization_id must be the organisation's numeric ID (gh api orgs/ORG --jq .id), not its name."
  }
}

variable "workflow_repository" {
  description = "owner/name of the repository that holds the reusable workflow .github/workflows/image-syncer.yml."
  type        = string
}

variable "workflow_ref" {
  description = "Git ref of the reusable workflow that callers must use."
  type        = string
  default     = "refs/heads/main"
}

variable "writer_ref" {
  description = "The only ref whose push runs get the writer identity: the callers' default branch."
  type        = string
  default     = "refs/heads/main"
  validation {
    condition     = startswith(var.writer_ref, "refs/heads/")
    error_message = "writer_ref must be a branch ref such as refs/heads/main."
  }
}

variable "writer_repository_ids" {
  description = "Numeric IDs of the only repositories whose pushes may get the writer identity (gh api repos/OWNER/REPO --jq .id; the ID, like the organisation's, cannot pass to another repository). Empty: any repository of the organisation. See Who may write in infra/README.md."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for id in var.writer_repository_ids : can(regex("^[0-9]+$", id))])
    error_message = "writer_repository_ids must be numeric repository IDs (gh api repos/OWNER/REPO --jq .id), not names."
  }
}

variable "writer_environment" {
  description = "A GitHub environment (e.g. prod, with required reviewers) that the writer's job must run in: the token's environment claim. The reusable workflow runs push jobs in it (organisation variable IMAGE_SYNCER_WRITER_ENVIRONMENT). Empty: none. See Who may write in infra/README.md."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^[^'\"\\\\]{0,255}$", var.writer_environment))
    error_message = "writer_environment must be a GitHub environment name: at most 255 characters, no quotes or backslashes."
  }
}

variable "writer_requires_protected_ref" {
  description = "Give the writer identity only to pushes whose branch is protected (GitHub's ref_protected claim). Turn off only for callers that cannot protect their default branch."
  type        = bool
  default     = true
}

variable "iam_propagation_seconds" {
  description = "How long the functions wait after the grants they need before they are created or updated: IAM changes take minutes to take effect (iam.tf, time_sleep.grants_propagate). Waited on the first apply, and again only when those grants change."
  type        = number
  default     = 300
  validation {
    condition     = var.iam_propagation_seconds >= 0 && var.iam_propagation_seconds <= 1800
    error_message = "iam_propagation_seconds must be between 0 and 1800."
  }
}

variable "metric_propagation_seconds" {
  description = "How long the alert policies wait after the log-based metrics they watch are created: Cloud Monitoring may take up to 10 minutes to know a new metric (monitoring.tf, time_sleep.log_metrics_propagate). Waited on the first apply, and again only when a metric is replaced."
  type        = number
  default     = 600
  validation {
    condition     = var.metric_propagation_seconds >= 0 && var.metric_propagation_seconds <= 1800
    error_message = "metric_propagation_seconds must be between 0 and 1800."
  }
}
