package pipeline

import "strings"

// The metric contract (ARCHITECTURE.md "Observability"): every Prometheus
// metric the worker exports, in one place. deploy/deploy_test.go fails when
// the Grafana dashboard or the alert rules in deploy/ query a cognitosync_
// metric, or a label of one, that is not listed here, so a rename here and in
// the code that exports it is caught before operators see empty panels.
//
// In the embedded mode (no endpoint configured) the worker runs the sync
// service in-process and so also exports syncd's metrics; those are listed
// with Exporter "syncd" (registered by syncapi/httpapi and pipeline/outbox).
// Code that registers one of these metrics should use the constant, not a
// string literal.

// MetricType is the Prometheus type of a metric.
type MetricType string

// Prometheus metric types.
const (
	Counter   MetricType = "counter"
	Gauge     MetricType = "gauge"
	Histogram MetricType = "histogram"
)

// Metric describes one exported metric.
type Metric struct {
	Name   string
	Type   MetricType
	Labels []string // label names, without the target labels job and instance
	// Exporter is the binary that registers it: "worker" or "syncd" (the
	// worker exports both in the embedded mode).
	Exporter string
	Help     string
}

// Worker metric names.
const (
	// MetricWorkerMessages counts stream messages the router finished, by
	// route, sink and outcome (OutcomeOK, OutcomeError: nacked and
	// redelivered, OutcomePoison: moved aside after its retries).
	MetricWorkerMessages = "cognitosync_worker_messages_total"
	// MetricSinkWrites counts Sink.Write calls by sink and outcome
	// (OutcomeOK, OutcomeError, OutcomePermanent).
	MetricSinkWrites = "cognitosync_sink_writes_total"
	// MetricSinkChanges counts changes a sink accepted (successful writes only).
	MetricSinkChanges = "cognitosync_sink_changes_total"
	// MetricSinkWriteDuration is the latency of Sink.Write by sink.
	MetricSinkWriteDuration = "cognitosync_sink_write_duration_seconds"
	// MetricSinkLastSuccess is the Unix time of a sink's last successful
	// write; the stalled-sink alert compares it with time().
	MetricSinkLastSuccess = "cognitosync_sink_last_success_timestamp_seconds"
	// MetricShardMillisBehindLatest is the last MillisBehindLatest Kinesis
	// returned for a shard this worker reads.
	MetricShardMillisBehindLatest = "cognitosync_shard_millis_behind_latest"
	// MetricCheckpointAge is the age of the newest checkpoint of a shard
	// this worker holds the lease of.
	MetricCheckpointAge = "cognitosync_checkpoint_age_seconds"
	// MetricLeasesHeld is the number of shard leases this worker holds.
	MetricLeasesHeld = "cognitosync_leases_held"
	// MetricBulkPublishState is 1 for the current GetBulkPublishDetails
	// state of a pool (NOT_STARTED, IN_PROGRESS, FAILED, SUCCEEDED), 0 for
	// the others.
	MetricBulkPublishState = "cognitosync_bulk_publish_state"
	// MetricBulkPublishes counts finished bulk publishes by pool and outcome
	// (succeeded, failed).
	MetricBulkPublishes = "cognitosync_bulk_publishes_total"
	// MetricBulkPublishDuration is the time from BulkPublish to a final state.
	MetricBulkPublishDuration = "cognitosync_bulk_publish_duration_seconds"
	// MetricBulkPublishRecords counts stream records (one per dataset) a
	// bulk publish wrote, by pool: the job's progress (pipeline/outbox).
	MetricBulkPublishRecords = "cognitosync_bulk_publish_records_total"
)

// syncd metric names (exported by the worker too in the embedded mode).
const (
	// MetricRequests counts API requests by operation and AWS error code
	// ("OK" on success); registered by syncapi/httpapi.
	MetricRequests = "cognitosync_requests_total"
	// MetricRequestDuration is API request latency by operation.
	MetricRequestDuration = "cognitosync_request_duration_seconds"
	// MetricOutboxDepth is the number of outbox rows not yet published to
	// the stream.
	MetricOutboxDepth = "cognitosync_outbox_depth"
	// MetricOutboxOldestAge is the age of the oldest unpublished outbox row.
	MetricOutboxOldestAge = "cognitosync_outbox_oldest_age_seconds"
	// MetricOutboxPublished counts outbox rows published to the stream and
	// deleted (pipeline/outbox Forwarder).
	MetricOutboxPublished = "cognitosync_outbox_published_total"
	// MetricTriggerInvocations counts SyncTrigger invocations by pool and
	// outcome.
	MetricTriggerInvocations = "cognitosync_trigger_invocations_total"
	// MetricGCDeleted counts what the collector deleted, by kind
	// (credentials: expired identity credentials; identities: guest
	// identities that never stored anything); syncapi/gc.
	MetricGCDeleted = "cognitosync_gc_deleted_total"
	// MetricGCRuns counts collector runs by outcome (ok, error).
	MetricGCRuns = "cognitosync_gc_runs_total"
)

// Outcome label values.
const (
	OutcomeOK        = "ok"
	OutcomeError     = "error"     // retryable: the message is redelivered
	OutcomePermanent = "permanent" // the sink says retrying cannot help
	OutcomePoison    = "poison"    // the router gave up and moved the message aside
)

// Metrics is the contract: every metric the worker exports.
var Metrics = []Metric{
	{MetricWorkerMessages, Counter, []string{"route", "sink", "outcome"}, "worker", "Stream messages handled by route, sink and outcome."},
	{MetricSinkWrites, Counter, []string{"sink", "outcome"}, "worker", "Sink.Write calls by sink and outcome."},
	{MetricSinkChanges, Counter, []string{"sink"}, "worker", "Changes accepted by a sink."},
	{MetricSinkWriteDuration, Histogram, []string{"sink"}, "worker", "Sink.Write latency."},
	{MetricSinkLastSuccess, Gauge, []string{"sink"}, "worker", "Unix time of the sink's last successful write."},
	{MetricShardMillisBehindLatest, Gauge, []string{"stream", "shard"}, "worker", "MillisBehindLatest of the last GetRecords of a shard."},
	{MetricCheckpointAge, Gauge, []string{"stream", "shard"}, "worker", "Seconds since the shard's last checkpoint."},
	{MetricLeasesHeld, Gauge, []string{"stream"}, "worker", "Shard leases this worker holds."},
	{MetricBulkPublishState, Gauge, []string{"pool", "state"}, "worker", "1 for the pool's current bulk publish state."},
	{MetricBulkPublishes, Counter, []string{"pool", "outcome"}, "worker", "Finished bulk publishes by outcome (succeeded, failed)."},
	{MetricBulkPublishDuration, Histogram, []string{"pool"}, "worker", "Seconds from BulkPublish to a final state."},
	{MetricBulkPublishRecords, Counter, []string{"pool"}, "syncd", "Stream records written by bulk publish, by pool."},
	{MetricRequests, Counter, []string{"operation", "code"}, "syncd", "API requests by operation and AWS error code."},
	{MetricRequestDuration, Histogram, []string{"operation"}, "syncd", "API request latency by operation."},
	{MetricOutboxDepth, Gauge, nil, "syncd", "Outbox rows not yet published to the stream."},
	{MetricOutboxOldestAge, Gauge, nil, "syncd", "Age of the oldest unpublished outbox row."},
	{MetricOutboxPublished, Counter, nil, "syncd", "Outbox rows published to the stream."},
	{MetricTriggerInvocations, Counter, []string{"pool", "outcome"}, "syncd", "SyncTrigger invocations by outcome."},
	{MetricGCDeleted, Counter, []string{"kind"}, "syncd", "Rows the collector deleted, by kind (credentials, identities)."},
	{MetricGCRuns, Counter, []string{"outcome"}, "syncd", "Collector runs by outcome (ok, error)."},
}

// LookupMetric returns the contract entry of a metric name. The series
// names Prometheus derives from a histogram (_bucket, _sum, _count) resolve
// to the histogram.
func LookupMetric(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		for _, m := range Metrics {
			if m.Name == base && m.Type == Histogram {
				if suffix == "_bucket" {
					m.Labels = append(append([]string(nil), m.Labels...), "le")
				}
				return m, true
			}
		}
	}
	return Metric{}, false
}
