# requests: CI publishes an images file (or a gs:// reference) here.
resource "google_pubsub_topic" "requests" {
  project    = var.project_id
  name       = "${var.name}-requests"
  depends_on = [google_project_service.services]
}

# jobs: one message per image, from the fan-out to the copy function.
resource "google_pubsub_topic" "jobs" {
  project    = var.project_id
  name       = "${var.name}-jobs"
  depends_on = [google_project_service.services]
}

# Dead-lettered jobs end here, kept 7 days for inspection and replay. Two
# publish to it: the copy function, by its own count of failures
# (attribute deadLetteredBy=copyJob), and Pub/Sub itself when the jobs
# subscription's backstop below runs out (CloudPubSubDeadLetterSource*
# attributes name the subscription and the delivery count).
resource "google_pubsub_topic" "dead_letter" {
  project    = var.project_id
  name       = "${var.name}-jobs-dead-letter"
  depends_on = [google_project_service.services]
}

resource "google_pubsub_subscription" "dead_letter_keep" {
  project                    = var.project_id
  name                       = "${var.name}-jobs-dead-letter-keep"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# The copy function's trigger: a push subscription with the function's own
# retry backoff and dead-letter policy (an Eventarc trigger cannot carry either).
resource "google_pubsub_subscription" "jobs_push" {
  project              = var.project_id
  name                 = "${var.name}-jobs-push"
  topic                = google_pubsub_topic.jobs.id
  ack_deadline_seconds = 600

  push_config {
    push_endpoint = google_cloudfunctions2_function.copy.service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
    }
  }

  # Pub/Sub counts every delivery against max_delivery_attempts, whatever the
  # function answered, then forwards the message to the dead-letter topic
  # (https://cloud.google.com/pubsub/docs/handling-failures): the 429s of busy
  # copy instances, which never reach the function, and the function's
  # hand-backs while a source's pull budget is spent both count. The function
  # dead-letters by its own, smaller count (copy_max_failures), so this is a
  # backstop, sized to outlast both kinds of wait plus that count: see
  # infra/README.md, "Sizing" (test/infra/sizing-check.ts recomputes it).
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  # Pushes need the push account's invoker grant and Pub/Sub's right to mint
  # its tokens; the backstop's dead letters need the service agent's publisher
  # grant.
  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_cloud_run_service_iam_member.push_invokes_copy,
    google_service_account_iam_member.pubsub_signs_push_tokens,
  ]
}
