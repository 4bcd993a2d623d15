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
  description = "Deliveries of one job before it goes to the dead-letter topic (Pub/Sub allows 5 to 100)."
  type        = number
  default     = 5
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "copy_max_instances" {
  description = "Most copy function instances at once: bounds the load on upstream registries (Docker Hub rate limits)."
  type        = number
  default     = 10
}

variable "copy_memory" {
  description = "Memory of the copy function; blobs are streamed, never held."
  type        = string
  default     = "512Mi"
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

variable "source_credentials_secret" {
  description = "Create a Secret Manager secret for source registry credentials (Docker config.json form), mounted into the functions. Add its value yourself."
  type        = bool
  default     = false
}

variable "github_organization" {
  description = "GitHub organisation whose repositories may call image-syncer through the reusable workflow."
  type        = string
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

variable "function_source_dir" {
  description = "Directory zipped as the functions' source (the repository root)."
  type        = string
  default     = null
}
