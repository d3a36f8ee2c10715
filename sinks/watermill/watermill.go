// Package watermill is a generic sink that publishes each change as a
// Watermill message to any message.Publisher: NATS JetStream, RabbitMQ,
// Kafka, Google Pub/Sub, SQL, … (watermill adapters), or the in-process
// gochannel.
//
// Message: the payload is the change's JSON object (package changejson:
// every field plus "id"; times RFC 3339 with nanoseconds, UTC). The UUID is
// changejson.UUID of the change's idempotency key — a name-based UUID, the
// same on every delivery — so a broker that dedupes on message IDs drops
// replays (NATS JetStream with watermill-nats' JetStream.TrackMsgId sends it
// as Nats-Msg-Id and drops duplicates within the stream's duplicate
// window). Metadata (strings, safe as broker headers):
//
//	idempotency_key   changejson.IdempotencyKey (64 hex)
//	identity_pool_id, identity_id, dataset_name, op, sync_count
//	dataset_deleted   "true" on a dataset deletion (empty key, op remove)
//
// The record key is only in the payload: it may hold any character, which
// some brokers' headers cannot carry.
//
// Guarantees:
//   - Durability: Write returns nil when Publisher.Publish returned nil for
//     every message; what that means is the publisher's: watermill-nats
//     with JetStream and watermill-amqp with publisher confirms return
//     after the broker has stored the message, gochannel after handing it to
//     subscribers in memory.
//   - Idempotency: at least once. A replay publishes again with the same UUID
//     and idempotency_key; deduplicating brokers drop it, others deliver it
//     and consumers dedupe on the key (and keep the highest sync_count per
//     record).
//   - Ordering: one Publish call per topic per Write, messages in batch
//     order; the broker's ordering guarantees apply from there.
package watermill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
)

// Metadata keys.
const (
	MetaIdempotencyKey = "idempotency_key"
	MetaIdentityPoolID = "identity_pool_id"
	MetaIdentityID     = "identity_id"
	MetaDatasetName    = "dataset_name"
	MetaOp             = "op"
	MetaSyncCount      = "sync_count"
	// MetaDatasetDeleted is "true" on a dataset deletion, absent otherwise.
	MetaDatasetDeleted = "dataset_deleted"
)

// Config configures a Sink.
type Config struct {
	// Publisher sends the messages. Required. The Sink closes it on Close
	// only with ClosePublisher.
	Publisher message.Publisher
	// Topic is the topic of every change. Required unless TopicFunc is set.
	Topic string
	// TopicFunc picks a change's topic (e.g. per identity pool); it
	// overrides Topic.
	TopicFunc func(pipeline.Change) string
	// ClosePublisher makes Close close Publisher.
	ClosePublisher bool
	// Name is the sink's name in metrics and route tables. "": "watermill".
	Name string
	// Registerer receives the sink metrics; nil: none.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "watermill"
	}
}

// Validate reports a missing Publisher or topic.
func (c Config) Validate() error {
	var errs []error
	if c.Publisher == nil {
		errs = append(errs, errors.New("watermill sink: Publisher is required"))
	}
	if c.Topic == "" && c.TopicFunc == nil {
		errs = append(errs, errors.New("watermill sink: Topic or TopicFunc is required"))
	}
	return errors.Join(errs...)
}

// Sink publishes changes. Safe for concurrent use when the Publisher is
// (watermill publishers are).
type Sink struct {
	c         Config
	metrics   *pipeline.SinkMetrics
	closeOnce sync.Once
	closeErr  error
}

var _ pipeline.Sink = (*Sink)(nil)

// New validates c.
func New(c Config) (*Sink, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := pipeline.NewSinkMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("watermill sink: metrics: %w", err)
	}
	return &Sink{c: c, metrics: m}, nil
}

// Name returns Config.Name.
func (s *Sink) Name() string { return s.c.Name }

// NewMessage builds the message of a change (exported for other publishers
// and for tests).
func NewMessage(c pipeline.Change) (*message.Message, error) {
	j := changejson.From(c)
	payload, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("watermill sink: encode: %w", err)
	}
	m := message.NewMessage(changejson.UUID(c.ID()), payload)
	m.Metadata.Set(MetaIdempotencyKey, j.ID)
	m.Metadata.Set(MetaIdentityPoolID, c.IdentityPoolID)
	m.Metadata.Set(MetaIdentityID, c.IdentityID)
	m.Metadata.Set(MetaDatasetName, c.DatasetName)
	m.Metadata.Set(MetaOp, string(c.Op))
	m.Metadata.Set(MetaSyncCount, strconv.FormatInt(c.SyncCount, 10))
	if c.DatasetDeleted {
		m.Metadata.Set(MetaDatasetDeleted, "true")
	}
	return m, nil
}

// Write publishes the batch: one Publish call per topic, in the order the
// topics first appear, messages in batch order. On error some messages may
// already be published; the router delivers the batch again.
func (s *Sink) Write(ctx context.Context, batch []pipeline.Change) (err error) {
	start := time.Now()
	defer func() { s.metrics.Observe(s.c.Name, start, len(batch), err) }()
	if err := ctx.Err(); err != nil {
		return err
	}
	var topics []string
	byTopic := map[string][]*message.Message{}
	for _, c := range batch {
		m, err := NewMessage(c)
		if err != nil {
			return err
		}
		m.SetContext(ctx)
		t := s.c.Topic
		if s.c.TopicFunc != nil {
			t = s.c.TopicFunc(c)
		}
		if _, ok := byTopic[t]; !ok {
			topics = append(topics, t)
		}
		byTopic[t] = append(byTopic[t], m)
	}
	for _, t := range topics {
		if err := s.c.Publisher.Publish(t, byTopic[t]...); err != nil {
			return fmt.Errorf("watermill sink: publish %d messages to %s: %w", len(byTopic[t]), t, err)
		}
	}
	return nil
}

// Close closes the Publisher when Config.ClosePublisher is set. Idempotent.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		if s.c.ClosePublisher {
			s.closeErr = s.c.Publisher.Close()
		}
	})
	return s.closeErr
}

// Decode reads a change back from a message this sink published, checking
// the payload against its idempotency key.
func Decode(m *message.Message) (pipeline.Change, error) {
	var j changejson.Change
	if err := json.Unmarshal(m.Payload, &j); err != nil {
		return pipeline.Change{}, fmt.Errorf("watermill sink: decode %s: %w", m.UUID, err)
	}
	c, err := j.Pipeline()
	if err != nil {
		return pipeline.Change{}, fmt.Errorf("watermill sink: decode %s: %w", m.UUID, err)
	}
	return c, nil
}
