package kinesis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// Backoff paces the retries of Publisher and Subscriber after throttling
// and other errors: retry n waits a random duration in [d/2, d],
// d = min(Max, Initial·2ⁿ), the backoff of the whole tree. Zero fields: 100 ms
// and 5 s.
type Backoff = retry.Backoff

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Client talks to Kinesis. Required; main builds it from aws.Config.
	Client KinesisAPI
	// Marshaler turns messages into record data. nil: DefaultMarshaler.
	Marshaler Marshaler
	// PartitionKey picks a message's partition key. nil: the message's
	// stream.MetadataPartitionKey metadata, or its UUID when that is empty.
	PartitionKey func(topic string, msg *message.Message) string
	// CreateStreamShards > 0 creates a missing stream with that many shards
	// (tests, local runs). 0: publishing to a missing stream fails.
	CreateStreamShards int32
	// MaxAttempts bounds the PutRecords attempts for one batch (entries that
	// keep failing, throttling). 0: 10.
	MaxAttempts int
	// Backoff paces retries after throttling and partial failures.
	Backoff Backoff
	// Unordered lets one PutRecords request carry several records of one
	// partition key. Faster for hot keys, but a partial failure can then
	// reorder them (Kinesis fails entries independently). false: a request
	// holds at most one record per partition key, and the next record of
	// that key is sent only after the previous one is written.
	Unordered bool
}

func (c *PublisherConfig) setDefaults() {
	if c.Marshaler == nil {
		c.Marshaler = DefaultMarshaler{}
	}
	if c.PartitionKey == nil {
		c.PartitionKey = DefaultPartitionKey
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	c.Backoff = c.Backoff.WithDefaults(100*time.Millisecond, 5*time.Second)
}

// Validate reports missing required fields.
func (c PublisherConfig) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("kinesis publisher: Client is required"))
	}
	if c.CreateStreamShards < 0 {
		errs = append(errs, errors.New("kinesis publisher: CreateStreamShards must not be negative"))
	}
	return errors.Join(errs...)
}

// DefaultPartitionKey is the message's stream.MetadataPartitionKey, or its
// UUID.
func DefaultPartitionKey(_ string, msg *message.Message) string {
	if k := msg.Metadata.Get(stream.MetadataPartitionKey); k != "" {
		return k
	}
	return msg.UUID
}

// Publisher publishes Watermill messages to Kinesis streams. Safe for
// concurrent use.
type Publisher struct {
	c       PublisherConfig
	log     watermill.LoggerAdapter
	streams *streams

	mu     sync.RWMutex // guards closed against the in-flight WaitGroup
	closed bool
	wg     sync.WaitGroup
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher. A nil logger logs nothing.
func NewPublisher(c PublisherConfig, log watermill.LoggerAdapter) (*Publisher, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = watermill.NopLogger{}
	}
	return &Publisher{c: c, log: log, streams: &streams{client: c.Client, shards: c.CreateStreamShards}}, nil
}

type entry struct {
	msg  *message.Message
	data []byte
	key  string
}

func (e entry) size() int { return len(e.data) + len(e.key) }

// Publish writes msgs to the stream named topic and returns once all are
// written, or with an error after MaxAttempts; then some may be written
// (publish again: duplicates are allowed, loss is not). The context of the
// first message bounds the call.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	p.wg.Add(1)
	p.mu.RUnlock()
	defer p.wg.Done()
	if len(msgs) == 0 {
		return nil
	}
	ctx := msgs[0].Context()

	entries := make([]entry, len(msgs))
	for i, m := range msgs {
		key := p.c.PartitionKey(topic, m)
		if key == "" || utf8.RuneCountInString(key) > MaxPartitionKeyLen {
			return fmt.Errorf("publish %s: message %s: %w", topic, m.UUID, ErrInvalidPartitionKey)
		}
		data, err := p.c.Marshaler.Marshal(topic, m)
		if err != nil {
			return fmt.Errorf("publish %s: marshal message %s: %w", topic, m.UUID, err)
		}
		entries[i] = entry{msg: m, data: data, key: key}
		if entries[i].size() > MaxRecordSize {
			return fmt.Errorf("publish %s: message %s has %d bytes: %w", topic, m.UUID, entries[i].size(), ErrRecordTooLarge)
		}
	}
	if err := p.streams.ensure(ctx, topic); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	for _, round := range p.rounds(entries) {
		for _, batch := range batches(round) {
			if err := p.put(ctx, topic, batch); err != nil {
				return fmt.Errorf("publish %s: %w", topic, err)
			}
		}
	}
	return nil
}

// rounds splits entries so that a partition key occurs at most once per
// round, keeping each key's order across rounds (unless Unordered).
func (p *Publisher) rounds(entries []entry) [][]entry {
	if p.c.Unordered {
		return [][]entry{entries}
	}
	var rounds [][]entry
	seen := make(map[string]int, len(entries))
	for _, e := range entries {
		r := seen[e.key]
		seen[e.key] = r + 1
		if r == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], e)
	}
	return rounds
}

// batches cuts entries into PutRecords requests within the count and size
// limits.
func batches(entries []entry) [][]entry {
	var out [][]entry
	start, size := 0, 0
	for i, e := range entries {
		if i-start == MaxRecordsPerRequest || size+e.size() > MaxRequestSize {
			out = append(out, entries[start:i])
			start, size = i, 0
		}
		size += e.size()
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}

// put writes one batch, retrying only the entries that failed.
func (p *Publisher) put(ctx context.Context, stream string, batch []entry) error {
	pending := batch
	var lastErr error
	backoff := p.c.Backoff.New()
	for attempt := 0; attempt < p.c.MaxAttempts; attempt++ {
		if attempt > 0 && retry.Sleep(ctx, backoff.NextBackOff()) != nil {
			return ctx.Err()
		}
		in := &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: make([]types.PutRecordsRequestEntry, len(pending))}
		for i, e := range pending {
			in.Records[i] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.key)}
		}
		out, err := p.c.Client.PutRecords(ctx, in)
		if err != nil {
			if !isRetryable(err) {
				return fmt.Errorf("put records: %w", err)
			}
			lastErr = err
			p.log.Debug("PutRecords failed, retrying", watermill.LogFields{"stream": stream, "attempt": attempt, "err": err})
			continue
		}
		if aws.ToInt32(out.FailedRecordCount) == 0 {
			return nil
		}
		failed := pending[:0:0]
		for i, r := range out.Records {
			if r.ErrorCode != nil && i < len(pending) {
				failed = append(failed, pending[i])
				lastErr = fmt.Errorf("put records: entry %s: %s", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
			}
		}
		p.log.Debug("PutRecords partly failed, retrying the failed entries",
			watermill.LogFields{"stream": stream, "attempt": attempt, "failed": len(failed), "of": len(pending)})
		pending = failed
		if len(pending) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%d of %d records not written after %d attempts: %w", len(pending), len(batch), p.c.MaxAttempts, lastErr)
}

// Close waits for the Publish calls in flight and makes later ones fail
// with ErrClosed. It is idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}
