# Operations: the runs topic (one run-completed message per run), log-based
# metrics from the copy function's structured logs, alerts and a dashboard.
#
# The metrics read the JSON lines the code writes (functions/pipeline/log-events.ts):
# Cloud Run turns each stdout JSON line into a LogEntry whose jsonPayload holds
# the fields ("severity" becomes the entry's severity). test/infra/monitoring.test.ts
# runs that code and evaluates every filter and extractor below against its lines.

variable "notification_channels" {
  description = "Cloud Monitoring notification channel IDs (projects/<p>/notificationChannels/<id>) that the alerts notify. Empty: alerts open incidents without notifying."
  type        = list(string)
  default     = []
}

variable "runs_topic_subscribers" {
  description = "IAM members (e.g. serviceAccount:ci@p.iam.gserviceaccount.com) allowed to attach subscriptions to the runs topic and read run-completed messages."
  type        = list(string)
  default     = []
}

variable "dead_letter_alert_threshold" {
  description = "Dead-lettered jobs within 5 minutes above which the dead-letter alert opens (0: any)."
  type        = number
  default     = 0
  validation {
    condition     = var.dead_letter_alert_threshold >= 0
    error_message = "dead_letter_alert_threshold must be 0 or more."
  }
}

locals {
  # Where the lines come from: the copy function's Cloud Run service, named as
  # functions.tf names it, so the metrics need not wait for the function.
  copy_logs   = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.copy_function_name}\""
  user_metric = "logging.googleapis.com/user"
}

# --- runs: one message per run when its last job is recorded ---
resource "google_pubsub_topic" "runs" {
  project                    = var.project_id
  name                       = "${var.name}-runs"
  message_retention_duration = "604800s"
  depends_on                 = [google_project_service.services]
}

resource "google_pubsub_topic_iam_member" "copy_publishes_runs" {
  project    = var.project_id
  topic      = google_pubsub_topic.runs.name
  role       = "roles/pubsub.publisher"
  member     = google_service_account.copy.member
  depends_on = [google_project_service.services]
}

resource "google_pubsub_topic_iam_member" "runs_subscribers" {
  for_each   = toset(var.runs_topic_subscribers)
  project    = var.project_id
  topic      = google_pubsub_topic.runs.name
  role       = "roles/pubsub.subscriber"
  member     = each.value
  depends_on = [google_project_service.services]
}

# --- log-based metrics ---
# Images by final status and failure category: one `job_recorded` line per
# outcome a run record keeps.
resource "google_logging_metric" "images" {
  project = var.project_id
  name    = "${var.name}/images"
  filter  = "${local.copy_logs} AND jsonPayload.event=\"job_recorded\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "image-syncer images by status and category"
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "copied, exists, planned, conflict, failed, invalid"
    }
    labels {
      key         = "category"
      value_type  = "STRING"
      description = "failure category (empty for successes)"
    }
  }
  label_extractors = {
    status   = "EXTRACT(jsonPayload.status)"
    category = "EXTRACT(jsonPayload.category)"
  }
  depends_on = [google_project_service.services]
}

resource "google_logging_metric" "bytes_copied" {
  project = var.project_id
  name    = "${var.name}/bytes_copied"
  filter  = "${local.copy_logs} AND jsonPayload.event=\"job_recorded\" AND jsonPayload.status=\"copied\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "By"
    display_name = "image-syncer bytes copied per image"
  }
  value_extractor = "EXTRACT(jsonPayload.bytes)"
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
      growth_factor      = 2
      scale              = 1024
    }
  }
  depends_on = [google_project_service.services]
}

resource "google_logging_metric" "run_duration" {
  project = var.project_id
  name    = "${var.name}/run_duration"
  filter  = "${local.copy_logs} AND jsonPayload.event=\"run_completed\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "image-syncer run duration"
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "succeeded or failed"
    }
  }
  value_extractor = "EXTRACT(jsonPayload.durationMs)"
  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 1000
    }
  }
  depends_on = [google_project_service.services]
}

# Runs completed, by outcome; dry runs (plans) are told apart from writer runs.
resource "google_logging_metric" "runs" {
  project = var.project_id
  name    = "${var.name}/runs"
  filter  = "${local.copy_logs} AND jsonPayload.event=\"run_completed\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "image-syncer runs completed"
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "succeeded or failed"
    }
    labels {
      key         = "dry_run"
      value_type  = "STRING"
      description = "true for dry runs"
    }
  }
  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
    dry_run = "EXTRACT(jsonPayload.dryRun)"
  }
  depends_on = [google_project_service.services]
}

resource "google_logging_metric" "dead_letters" {
  project = var.project_id
  name    = "${var.name}/dead_letters"
  filter  = "${local.copy_logs} AND jsonPayload.event=\"job_recorded\" AND jsonPayload.deadLettered=true"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "image-syncer dead-lettered jobs"
    labels {
      key         = "category"
      value_type  = "STRING"
      description = "failure category of the last attempt"
    }
  }
  label_extractors = {
    category = "EXTRACT(jsonPayload.category)"
  }
  depends_on = [google_project_service.services]
}

# A new log-based metric is not at once known to Cloud Monitoring: an alert
# policy on it is refused with "Error 404: Cannot find metric(s) that match
# type ... If a metric was created recently, it could take up to 10 minutes to
# become available" (hashicorp/terraform-provider-google#11102, still reported
# on 7.x; #10325). So the alerts wait after the metrics (time_sleep, hashicorp/time:
# https://registry.terraform.io/providers/hashicorp/time/latest/docs/resources/sleep),
# and again when a metric is replaced. The metrics are created early (they do
# not wait for the copy function), so this wait overlaps the functions' builds.
resource "time_sleep" "log_metrics_propagate" {
  create_duration = "${var.metric_propagation_seconds}s"
  triggers = {
    metrics = join(" ", [
      google_logging_metric.images.id,
      google_logging_metric.bytes_copied.id,
      google_logging_metric.run_duration.id,
      google_logging_metric.runs.id,
      google_logging_metric.dead_letters.id,
    ])
  }
}

# --- alerts ---
resource "google_monitoring_alert_policy" "dead_letters" {
  project      = var.project_id
  display_name = "image-syncer: jobs dead-lettered"
  combiner     = "OR"
  conditions {
    display_name = "the copy function dead-lettered a job"
    condition_threshold {
      filter          = "metric.type=\"${local.user_metric}/${google_logging_metric.dead_letters.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.dead_letter_alert_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.category"]
      }
    }
  }
  notification_channels = var.notification_channels
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "The copy function dead-lettered a job after its own count of transient failures (copy_max_failures; rate limits do not count) and published its message to the ${google_pubsub_topic.dead_letter.name} topic (kept by ${google_pubsub_subscription.dead_letter_keep.name}). Find the run in the copy function's logs (jsonPayload.event=\"job_recorded\" AND jsonPayload.deadLettered=true), read GET /runs/{runId}, fix the cause its category names, then replay: see the README, Operations."
  }
  depends_on = [time_sleep.log_metrics_propagate]
}

# The subscription's own dead-lettering, the backstop (infra/README.md, Sizing):
# a job it forwards never reached a final outcome in the copy function (its
# last deliveries were refused by busy instances or handed back), so no
# job_recorded line says so and its run stays open. Pub/Sub counts what it
# forwards: subscription/dead_letter_message_count
# (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-pubsub).
resource "google_monitoring_alert_policy" "subscription_dead_letters" {
  project      = var.project_id
  display_name = "image-syncer: jobs dead-lettered by the subscription"
  combiner     = "OR"
  conditions {
    display_name = "the jobs subscription forwarded a job to the dead-letter topic"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.jobs_push.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  notification_channels = var.notification_channels
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "Pub/Sub moved a job to the ${google_pubsub_topic.dead_letter.name} topic after ${var.max_delivery_attempts} deliveries (the backstop): the copy function never recorded a final outcome for it, so its run stays open. Usually the copy function had no free instance for hours (raise copy_max_instances or copy_concurrency) or a source's pull budget stayed spent. The message (attribute CloudPubSubDeadLetterSourceSubscription) is kept by ${google_pubsub_subscription.dead_letter_keep.name}; replay it: see the README, Operations."
  }
  depends_on = [google_project_service.services]
}

resource "google_monitoring_alert_policy" "failed_runs" {
  project      = var.project_id
  display_name = "image-syncer: writer run ended with failures"
  combiner     = "OR"
  conditions {
    display_name = "a sync (not a dry run) completed with conflicts, failures or invalid jobs"
    condition_threshold {
      filter          = "metric.type=\"${local.user_metric}/${google_logging_metric.runs.name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome=\"failed\" AND metric.label.dry_run=\"false\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  notification_channels = var.notification_channels
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "A run that writes to the mirror completed with images that were not mirrored. The run-completed message on ${google_pubsub_topic.runs.name} and GET /runs/{runId} list each problem with its category and the fix; see the README, Operations."
  }
  depends_on = [time_sleep.log_metrics_propagate]
}

# --- dashboard ---
resource "google_monitoring_dashboard" "syncer" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    title        = "image-syncer (${var.name})"
    images       = "${local.user_metric}/${google_logging_metric.images.name}"
    bytes_copied = "${local.user_metric}/${google_logging_metric.bytes_copied.name}"
    run_duration = "${local.user_metric}/${google_logging_metric.run_duration.name}"
    runs         = "${local.user_metric}/${google_logging_metric.runs.name}"
    dead_letters = "${local.user_metric}/${google_logging_metric.dead_letters.name}"
  })
  depends_on = [google_project_service.services]
}
