// Package metricnames is the metric contract (ARCHITECTURE.md
// "Observability"): every Prometheus
// metric syncd and the worker export, in one place, each name with one
// meaning. deploy/deploy_test.go fails when the Grafana dashboard or the
// alert rules in deploy/ query a cognitosync_ metric, or a label of one, that
// is not listed here, and the tests of cmd/syncd and cmd/worker fail when
// their /metrics exposes a cognitosync_ metric that is not listed here, or
// misses one that is; so a rename here and in the code that exports it is
// caught before operators see empty panels.
//
// In the embedded mode (no endpoint configured) the worker runs the sync
// service in-process and so also exports syncd's metrics; those are listed
// with Exporter ExporterSyncd (registered by internal/server through
// syncapi/httpapi, syncapi/trigger and pipeline/outbox). Code that registers
// one of these metrics uses the constant, not a string literal. The package
// imports nothing but the standard library, so that every exporter (the
// syncapi libraries too) can use it without pulling in the pipeline.
package metricnames

import (
	"slices"
	"strings"
)

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
	// Exporter says which binary and mode registers it: ExporterSyncd,
	// ExporterWorker, ExporterWorkerKinesis or ExporterImport.
	Exporter string
	Help     string
}

// Exporters of the contract.
const (
	// ExporterSyncd: syncd, and the worker in the embedded mode (which runs
	// the sync service in-process).
	ExporterSyncd = "syncd"
	// ExporterWorker: the worker, in both modes.
	ExporterWorker = "worker"
	// ExporterWorkerKinesis: the worker only while it reads Kinesis (the
	// remote mode); the embedded mode's in-process stream has no shards.
	ExporterWorkerKinesis = "worker-kinesis"
	// ExporterImport: `syncd import` with --metrics-listen, while it runs.
	ExporterImport = "syncd-import"
)

// Worker metric names.
const (
	// MetricWorkerMessages counts stream messages the router finished, by
	// route, sink and outcome (OutcomeOK, OutcomeError: nacked and
	// redelivered, OutcomePoison: moved aside after its retries).
	MetricWorkerMessages = "cognitosync_worker_messages_total"
	// MetricWorkerBatchChanges is the number of changes per batch a route
	// wrote to its sinks (one Sink.Write per sink), by route.
	MetricWorkerBatchChanges = "cognitosync_worker_batch_changes"
	// MetricWorkerBatchDuration is the time from a batch's first message to
	// its acknowledgement, by route.
	MetricWorkerBatchDuration = "cognitosync_worker_batch_duration_seconds"
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
	// MetricBulkPublishState is 1 for the GetBulkPublishDetails state
	// (NOT_STARTED, IN_PROGRESS, FAILED, SUCCEEDED) of a pool whose bulk
	// publish the worker started or follows, 0 for the others: the
	// orchestration as the worker sees it, against AWS or syncd.
	MetricBulkPublishState = "cognitosync_bulk_publish_state"
	// MetricBulkPublishes counts the bulk publishes the worker followed to a
	// final state, by pool and outcome (succeeded, failed).
	MetricBulkPublishes = "cognitosync_bulk_publishes_total"
	// MetricBulkPublishDuration is the time from BulkPublish to a final
	// state, as the worker saw it.
	MetricBulkPublishDuration = "cognitosync_bulk_publish_duration_seconds"
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
	// outcome (syncapi/trigger).
	MetricTriggerInvocations = "cognitosync_trigger_invocations_total"
	// MetricBulkPublishRecords counts stream records (one per dataset) the
	// bulk publish jobs of this syncd wrote, by pool: a job's progress
	// (pipeline/outbox BulkRunner).
	MetricBulkPublishRecords = "cognitosync_bulk_publish_records_total"
	// MetricBulkPublishJobs counts the bulk publish jobs this syncd ran to
	// the end, by pool and outcome (succeeded, failed): the job side, next
	// to the worker's MetricBulkPublishes (orchestration side). A job that
	// one syncd started and another resumed counts once, where it ended.
	MetricBulkPublishJobs = "cognitosync_bulk_publish_jobs_total"
	// MetricBulkPublishJobState is 1 for the state (IN_PROGRESS, SUCCEEDED,
	// FAILED) of the last bulk publish job of a pool this syncd ran, 0 for
	// the others.
	MetricBulkPublishJobState = "cognitosync_bulk_publish_job_state"
	// MetricThrottledRequests counts requests refused by a rate limit of
	// the unsigned guest calls, by operation and scope (pool, address);
	// registered by internal/ratelimit.
	MetricThrottledRequests = "cognitosync_throttled_requests_total"
	// MetricHTTPConnections is the number of open client connections;
	// MetricHTTPBodyBytesInFlight the request body bytes held at once;
	// MetricHTTPRequestsCut counts requests cut before they were read, by
	// reason. Registered by internal/httplimit.
	MetricHTTPConnections       = "cognitosync_http_connections"
	MetricHTTPBodyBytesInFlight = "cognitosync_http_request_body_bytes_in_flight"
	MetricHTTPRequestsCut       = "cognitosync_http_requests_cut_total"
	// MetricGCDeleted counts what the collector deleted, by kind
	// (credentials: expired identity credentials; identities: guest
	// identities that never stored anything); syncapi/gc.
	MetricGCDeleted = "cognitosync_gc_deleted_total"
	// MetricGCRuns counts collector runs by outcome (ok, error).
	MetricGCRuns = "cognitosync_gc_runs_total"
	// MetricPushNotifications counts push sync notifications by backend
	// (sns, direct, webhook), platform and outcome.
	MetricPushNotifications = "cognitosync_push_notifications_total"
	// MetricPushQueueDepth is the number of queued push notifications;
	// MetricPushQueueOldestAge the age of the oldest.
	MetricPushQueueDepth     = "cognitosync_push_queue_depth"
	MetricPushQueueOldestAge = "cognitosync_push_queue_oldest_age_seconds"
	// MetricPushDeliveryDuration is the time from the commit of a burst's
	// first change to the push service accepting its notification.
	MetricPushDeliveryDuration = "cognitosync_push_delivery_duration_seconds"
)

// `syncd import` metric names: what the import copied so far, this run and
// the runs it resumes (the terminal's progress line, for a scraper).
const (
	MetricImportIdentities = "cognitosync_import_identities"
	MetricImportDatasets   = "cognitosync_import_datasets"
	MetricImportRecords    = "cognitosync_import_records"
	// MetricImportBytes are the UTF-8 bytes of live keys and values
	// copied; MetricImportSourceBytes the source pool's DataStorage (0:
	// unknown), so their ratio is the share done.
	MetricImportBytes       = "cognitosync_import_bytes"
	MetricImportSourceBytes = "cognitosync_import_source_bytes"
	// MetricImportThrottled counts the source's throttled calls this run.
	MetricImportThrottled = "cognitosync_import_throttled_calls_total"
	// MetricImportDone is 1 once the copy is complete (verification may
	// still run).
	MetricImportDone = "cognitosync_import_done"
)

// Metrics is the contract: every metric syncd and the worker export.
var Metrics = []Metric{
	{MetricWorkerMessages, Counter, []string{"route", "sink", "outcome"}, ExporterWorker, "Stream messages handled by route, sink and outcome."},
	{MetricWorkerBatchChanges, Histogram, []string{"route"}, ExporterWorker, "Changes per batch a route wrote to its sinks."},
	{MetricWorkerBatchDuration, Histogram, []string{"route"}, ExporterWorker, "Seconds from a batch's first message to its acknowledgement."},
	{MetricSinkWrites, Counter, []string{"sink", "outcome"}, ExporterWorker, "Sink.Write calls by sink and outcome."},
	{MetricSinkChanges, Counter, []string{"sink"}, ExporterWorker, "Changes accepted by a sink."},
	{MetricSinkWriteDuration, Histogram, []string{"sink"}, ExporterWorker, "Sink.Write latency."},
	{MetricSinkLastSuccess, Gauge, []string{"sink"}, ExporterWorker, "Unix time of the sink's last successful write."},
	{MetricShardMillisBehindLatest, Gauge, []string{"stream", "shard"}, ExporterWorkerKinesis, "MillisBehindLatest of the last GetRecords of a shard."},
	{MetricCheckpointAge, Gauge, []string{"stream", "shard"}, ExporterWorkerKinesis, "Seconds since the shard's last checkpoint."},
	{MetricLeasesHeld, Gauge, []string{"stream"}, ExporterWorkerKinesis, "Shard leases this worker holds."},
	{MetricBulkPublishState, Gauge, []string{"pool", "state"}, ExporterWorker, "1 for the state of the bulk publish the worker follows."},
	{MetricBulkPublishes, Counter, []string{"pool", "outcome"}, ExporterWorker, "Bulk publishes the worker followed to a final state, by outcome (succeeded, failed)."},
	{MetricBulkPublishDuration, Histogram, []string{"pool"}, ExporterWorker, "Seconds from BulkPublish to a final state."},
	{MetricRequests, Counter, []string{"operation", "code"}, ExporterSyncd, "API requests by operation and AWS error code."},
	{MetricRequestDuration, Histogram, []string{"operation"}, ExporterSyncd, "API request latency by operation."},
	{MetricOutboxDepth, Gauge, nil, ExporterSyncd, "Outbox rows not yet published to the stream."},
	{MetricOutboxOldestAge, Gauge, nil, ExporterSyncd, "Age of the oldest unpublished outbox row."},
	{MetricOutboxPublished, Counter, nil, ExporterSyncd, "Outbox rows published to the stream."},
	{MetricTriggerInvocations, Counter, []string{"pool", "outcome"}, ExporterSyncd, "SyncTrigger invocations by outcome."},
	{MetricBulkPublishRecords, Counter, []string{"pool"}, ExporterSyncd, "Stream records written by this syncd's bulk publish jobs, by pool."},
	{MetricBulkPublishJobs, Counter, []string{"pool", "outcome"}, ExporterSyncd, "Bulk publish jobs this syncd ran to the end, by outcome (succeeded, failed)."},
	{MetricBulkPublishJobState, Gauge, []string{"pool", "state"}, ExporterSyncd, "1 for the state of the pool's last bulk publish job this syncd ran."},
	{MetricThrottledRequests, Counter, []string{"operation", "scope"}, ExporterSyncd, "Requests refused with TooManyRequestsException by a rate limit, by operation and scope (pool, address)."},
	{MetricHTTPConnections, Gauge, nil, ExporterSyncd, "Open client connections of the API listener."},
	{MetricHTTPBodyBytesInFlight, Gauge, nil, ExporterSyncd, "Request body bytes read and held by requests in progress."},
	{MetricHTTPRequestsCut, Counter, []string{"reason"}, ExporterSyncd, "Requests or connections ended before their request was read, by reason (shutdown, body_budget)."},
	{MetricGCDeleted, Counter, []string{"kind"}, ExporterSyncd, "Rows the collector deleted, by kind (credentials, identities)."},
	{MetricGCRuns, Counter, []string{"outcome"}, ExporterSyncd, "Collector runs by outcome (ok, error)."},
	{MetricPushNotifications, Counter, []string{"backend", "platform", "outcome"}, ExporterSyncd, "Push notifications by backend, platform and outcome (ok, error, permanent, dead_token, gave_up, no_config)."},
	{MetricPushQueueDepth, Gauge, nil, ExporterSyncd, "Push notifications queued."},
	{MetricPushQueueOldestAge, Gauge, nil, ExporterSyncd, "Age of the oldest queued push notification."},
	{MetricPushDeliveryDuration, Histogram, nil, ExporterSyncd, "Seconds from a change's commit to its push notification's delivery."},
	{MetricImportIdentities, Gauge, []string{"pool"}, ExporterImport, "Identities syncd import copied, resumed runs included."},
	{MetricImportDatasets, Gauge, []string{"pool"}, ExporterImport, "Datasets syncd import copied, resumed runs included."},
	{MetricImportRecords, Gauge, []string{"pool"}, ExporterImport, "Records (tombstones included) syncd import copied, resumed runs included."},
	{MetricImportBytes, Gauge, []string{"pool"}, ExporterImport, "UTF-8 bytes of live keys and values syncd import copied."},
	{MetricImportSourceBytes, Gauge, []string{"pool"}, ExporterImport, "The source pool's DataStorage in bytes; 0: unknown."},
	{MetricImportThrottled, Counter, []string{"pool"}, ExporterImport, "Calls the source throttled (retried with backoff) in this run."},
	{MetricImportDone, Gauge, []string{"pool"}, ExporterImport, "1 once syncd import copied the whole pool."},
}

// ExportedBy returns the contract's metrics of the given exporters, e.g.
// ExporterSyncd and ExporterWorker for the embedded worker.
func ExportedBy(exporters ...string) []Metric {
	var out []Metric
	for _, m := range Metrics {
		if slices.Contains(exporters, m.Exporter) {
			out = append(out, m)
		}
	}
	return out
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
