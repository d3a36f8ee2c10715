package main

import (
	"context"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// kinesisSubscribers builds one Subscriber per route: consumer group
// <group>.<route>, so every route has its own checkpoints and a route whose
// sink is down holds back only its own position in each shard.
func kinesisSubscribers(c Config, cfg aws.Config, cps stream.CheckpointStore, sm *streamMetrics, log watermill.LoggerAdapter) func(pipeline.Route) (message.Subscriber, error) {
	kc := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
		if c.KinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(c.KinesisEndpoint)
		}
	})
	// Workers of one consumer group share the shards through leases in the
	// checkpoint database; one owner name per process, each
	// route in its own group.
	leases, _ := cps.(stream.LeaseStore)
	owner := server.ProcessOwner()
	return func(r pipeline.Route) (message.Subscriber, error) {
		sc := kinesis.SubscriberConfig{
			Client:        kc,
			ConsumerGroup: c.ConsumerGroup + "." + r.Name,
			Checkpoints:   sm.checkpoints(r.Name, cps),
			Leases:        leases,
			Owner:         owner,
			Marshaler:     kinesis.RawMarshaler{}, // Cognito writes bare JSON records
			StartAtLatest: c.StartAt == "latest",
			OnGetRecords:  sm.onGetRecords(r.Name),
			// a window per shard, so that the router collects batches
			MaxInFlight: c.MaxInFlight, MaxInFlightBytes: c.MaxInFlightBytes,
			GetRecordsLimit: int32(c.KinesisGetRecordsLimit),
		}
		if c.KinesisPacing == "off" {
			sc.MinGetRecordsInterval, sc.MaxReadBytesPerSecond = time.Microsecond, 1<<40
		}
		sub, err := kinesis.NewSubscriber(sc, log)
		if err != nil {
			return nil, err
		}
		sm.mu.Lock()
		sm.subscribers = append(sm.subscribers, sub)
		sm.mu.Unlock()
		return sub, nil
	}
}

// streamMetrics exports shard lag, checkpoint age and leases held (metric
// contract in internal/metricnames), computed at scrape time from what
// the route subscribers report.
type streamMetrics struct {
	stream string
	router interface {
		Waiting(route, shard string) bool
	}

	mu          sync.Mutex
	shards      map[routeShard]*shardState
	subscribers []*kinesis.Subscriber // one per route; their leases are summed

	behind, age, leases *prometheus.Desc
}

type routeShard struct{ route, shard string }

type shardState struct {
	behind     int64
	lastRead   time.Time
	checkpoint time.Time // last checkpoint saved, or first read
}

func newStreamMetrics(stream string) *streamMetrics {
	return &streamMetrics{
		stream: stream,
		shards: map[routeShard]*shardState{},
		behind: prometheus.NewDesc(metricnames.MetricShardMillisBehindLatest,
			"MillisBehindLatest of the last GetRecords of a shard (the slowest route).", []string{"stream", "shard"}, nil),
		age: prometheus.NewDesc(metricnames.MetricCheckpointAge,
			"Seconds since the shard's last checkpoint while a message of it waits to be acknowledged (the slowest route); 0 when idle.", []string{"stream", "shard"}, nil),
		leases: prometheus.NewDesc(metricnames.MetricLeasesHeld,
			"Shard leases this worker holds, summed over its routes (each route is a consumer group of its own).", []string{"stream"}, nil),
	}
}

func (m *streamMetrics) state(route, shard string) *shardState {
	k := routeShard{route, shard}
	s := m.shards[k]
	if s == nil {
		s = &shardState{checkpoint: time.Now()}
		m.shards[k] = s
	}
	return s
}

func (m *streamMetrics) onGetRecords(route string) func(kinesis.GetRecordsInfo) {
	return func(i kinesis.GetRecordsInfo) {
		m.mu.Lock()
		defer m.mu.Unlock()
		s := m.state(route, i.ShardID)
		s.lastRead = time.Now()
		if i.MillisBehindLatest >= 0 {
			s.behind = i.MillisBehindLatest
		}
	}
}

// checkpoints wraps a CheckpointStore to time each route's checkpoints.
func (m *streamMetrics) checkpoints(route string, next stream.CheckpointStore) stream.CheckpointStore {
	return timedCheckpoints{next: next, saved: func(shard string) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.state(route, shard).checkpoint = time.Now()
	}}
}

func (m *streamMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.behind
	ch <- m.age
	ch <- m.leases
}

func (m *streamMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	behind, age := map[string]float64{}, map[string]float64{}
	for k, s := range m.shards {
		if now.Sub(s.lastRead) > 2*time.Minute {
			continue // no longer read (closed shard, stopped route)
		}
		behind[k.shard] = max(behind[k.shard], float64(s.behind))
		a := 0.0
		if m.router != nil && m.router.Waiting(k.route, k.shard) {
			a = now.Sub(s.checkpoint).Seconds()
		}
		age[k.shard] = max(age[k.shard], a)
	}
	for shard, v := range behind {
		ch <- prometheus.MustNewConstMetric(m.behind, prometheus.GaugeValue, v, m.stream, shard)
		ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, age[shard], m.stream, shard)
	}
	held := 0
	for _, sub := range m.subscribers {
		held += sub.LeasesHeld()
	}
	ch <- prometheus.MustNewConstMetric(m.leases, prometheus.GaugeValue, float64(held), m.stream)
}

type timedCheckpoints struct {
	next  stream.CheckpointStore
	saved func(shard string)
}

func (t timedCheckpoints) Checkpoints(ctx context.Context, group, topic string) (map[string]stream.Checkpoint, error) {
	return t.next.Checkpoints(ctx, group, topic)
}

func (t timedCheckpoints) SaveCheckpoint(ctx context.Context, group, topic, shardID string, cp stream.Checkpoint) error {
	if err := t.next.SaveCheckpoint(ctx, group, topic, shardID, cp); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	t.saved(shardID)
	return nil
}
