package kinesis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// Client talks to Kinesis. Required; main builds it from aws.Config.
	Client KinesisAPI
	// ConsumerGroup names the checkpoint namespace: subscribers of one group
	// continue from each other's checkpoints, another group reads the
	// stream on its own. "": "default".
	ConsumerGroup string
	// Checkpoints stores positions. nil: a MemoryCheckpointStore of this
	// Subscriber only (positions are lost on Close).
	Checkpoints CheckpointStore
	// Marshaler turns records into messages. nil: DefaultMarshaler.
	Marshaler Marshaler
	// StartAtLatest makes a shard without checkpoint start at LATEST (only
	// new records) instead of TRIM_HORIZON (everything retained). Children
	// of resharded shards always start at TRIM_HORIZON.
	StartAtLatest bool
	// CreateStreamShards > 0 creates a missing stream with that many shards
	// (tests, local runs). 0: subscribing to a missing stream fails.
	CreateStreamShards int32
	// PollInterval is the wait after a GetRecords that found the shard
	// caught up (no records, MillisBehindLatest 0). 0: 1s.
	PollInterval time.Duration
	// MinGetRecordsInterval spaces the GetRecords calls of one shard. 0:
	// 200ms, the Kinesis limit of 5 calls per second per shard, shared by
	// all consumers of the shard.
	MinGetRecordsInterval time.Duration
	// MaxReadBytesPerSecond bounds the bytes read from one shard per second:
	// after a response of n bytes the next call waits n/rate. 0: 2 MiB/s,
	// the Kinesis per-shard limit.
	MaxReadBytesPerSecond int
	// GetRecordsLimit is the records asked per GetRecords. 0: 10000 (max).
	GetRecordsLimit int32
	// ShardSyncInterval is how often shards are listed again (new shards,
	// readers to restart). A shard reaching its end triggers a sync at
	// once. 0: 10s.
	ShardSyncInterval time.Duration
	// CheckpointInterval batches checkpoint writes: an acknowledged position
	// is saved at most this long after the Ack, and always when a shard
	// ends, the subscription stops or the Subscriber closes. 0: 1s;
	// negative: after every Ack.
	CheckpointInterval time.Duration
	// NackResendSleep is the wait before redelivering a Nacked message. 0:
	// 100ms.
	NackResendSleep time.Duration
	// Backoff paces retries after throttling and other errors.
	Backoff Backoff
	// OnGetRecords, if set, is called after every successful GetRecords, from
	// the shard's reading goroutine (so concurrently for several shards), for
	// metrics such as MillisBehindLatest. It must not block.
	OnGetRecords func(GetRecordsInfo)
}

// GetRecordsInfo describes one GetRecords response.
type GetRecordsInfo struct {
	Stream, ShardID    string
	Records, Bytes     int
	MillisBehindLatest int64 // -1 when the response had none
}

func (c *SubscriberConfig) setDefaults() {
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = "default"
	}
	if c.Checkpoints == nil {
		c.Checkpoints = NewMemoryCheckpointStore()
	}
	if c.Marshaler == nil {
		c.Marshaler = DefaultMarshaler{}
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.MinGetRecordsInterval <= 0 {
		c.MinGetRecordsInterval = time.Second / shardReadCallsPerSec
	}
	if c.MaxReadBytesPerSecond <= 0 {
		c.MaxReadBytesPerSecond = shardReadBytesPerSec
	}
	if c.GetRecordsLimit <= 0 {
		c.GetRecordsLimit = MaxGetRecordsLimit
	}
	if c.ShardSyncInterval <= 0 {
		c.ShardSyncInterval = 10 * time.Second
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	if c.NackResendSleep <= 0 {
		c.NackResendSleep = 100 * time.Millisecond
	}
	c.Backoff.setDefaults()
}

// Validate reports missing or out-of-range fields.
func (c SubscriberConfig) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("kinesis subscriber: Client is required"))
	}
	if c.GetRecordsLimit > MaxGetRecordsLimit {
		errs = append(errs, fmt.Errorf("kinesis subscriber: GetRecordsLimit must be at most %d", MaxGetRecordsLimit))
	}
	if c.CreateStreamShards < 0 {
		errs = append(errs, errors.New("kinesis subscriber: CreateStreamShards must not be negative"))
	}
	return errors.Join(errs...)
}

// Subscriber reads Kinesis streams as Watermill messages. See the package
// documentation for ordering and checkpoint semantics. Safe for concurrent
// use; Close stops every subscription.
type Subscriber struct {
	c       SubscriberConfig
	log     watermill.LoggerAdapter
	streams *streams

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber returns a Subscriber. A nil logger logs nothing.
func NewSubscriber(c SubscriberConfig, log watermill.LoggerAdapter) (*Subscriber, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = watermill.NopLogger{}
	}
	return &Subscriber{c: c, log: log, closing: make(chan struct{}),
		streams: &streams{client: c.Client, shards: c.CreateStreamShards}}, nil
}

// SubscribeInitialize makes sure the stream exists, creating it when
// CreateStreamShards is set.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	return s.streams.ensure(context.Background(), topic)
}

// Subscribe reads the stream named topic until ctx is done or the
// Subscriber closes; then the channel is closed, after the positions
// acknowledged so far are checkpointed. Each shard is read in order and its
// next message is sent only after the previous one is Acked; a Nacked
// message is sent again after NackResendSleep.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()

	if err := s.streams.ensure(ctx, topic); err != nil {
		s.wg.Done()
		return nil, fmt.Errorf("subscribe %s: %w", topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{s: s, stream: topic, out: make(chan *message.Message),
		exited: make(chan shardExit, 16), running: map[string]bool{}}
	go func() {
		defer s.wg.Done()
		defer cancel()
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		sub.run(ctx)
		close(sub.out)
	}()
	return sub.out, nil
}

// Close stops every subscription, waits until their readers have
// checkpointed what was acknowledged and closed their channels. It is
// idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// subscription is one Subscribe call: a coordinator that lists shards and
// runs one reader per readable shard.
type subscription struct {
	s      *Subscriber
	stream string
	out    chan *message.Message

	exited  chan shardExit
	running map[string]bool // owned by run
	wg      sync.WaitGroup
}

type shardExit struct {
	shard    string
	finished bool
}

func (sub *subscription) run(ctx context.Context) {
	defer sub.wg.Wait()
	c := sub.s.c
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case e := <-sub.exited:
			delete(sub.running, e.shard)
			if !e.finished {
				continue // restarted at the next periodic sync
			}
		}
		if err := sub.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			sub.s.log.Error("kinesis: list shards", err, watermill.LogFields{"stream": sub.stream})
			failures++
			timer.Reset(c.Backoff.Delay(failures - 1))
			continue
		}
		failures = 0
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(c.ShardSyncInterval)
	}
}

// sync starts a reader for every shard that is not finished, not being read
// and whose parents are finished (or trimmed away).
func (sub *subscription) sync(ctx context.Context) error {
	c := sub.s.c
	shards, err := listShards(ctx, c.Client, sub.stream)
	if err != nil {
		return err
	}
	cps, err := c.Checkpoints.Checkpoints(ctx, c.ConsumerGroup, sub.stream)
	if err != nil {
		return fmt.Errorf("load checkpoints: %w", err)
	}
	listed := make(map[string]bool, len(shards))
	for _, sh := range shards {
		listed[aws.ToString(sh.ShardId)] = true
	}
	parentDone := func(id *string) bool {
		p := aws.ToString(id)
		return p == "" || !listed[p] || cps[p].Finished
	}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if sub.running[id] || cps[id].Finished {
			continue
		}
		if !parentDone(sh.ParentShardId) || !parentDone(sh.AdjacentParentShardId) {
			continue
		}
		hasParent := aws.ToString(sh.ParentShardId) != "" || aws.ToString(sh.AdjacentParentShardId) != ""
		r := &shardReader{sub: sub, shard: id, start: cps[id].SequenceNumber,
			latest: c.StartAtLatest && !hasParent}
		sub.running[id] = true
		sub.wg.Add(1)
		go func() {
			defer sub.wg.Done()
			finished := r.run(ctx)
			select {
			case sub.exited <- shardExit{id, finished}:
			case <-ctx.Done():
			}
		}()
	}
	return nil
}

func listShards(ctx context.Context, client KinesisAPI, stream string) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	sort.Slice(shards, func(i, j int) bool { return aws.ToString(shards[i].ShardId) < aws.ToString(shards[j].ShardId) })
	return shards, nil
}
