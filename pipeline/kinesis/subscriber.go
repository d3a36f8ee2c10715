package kinesis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// Client talks to Kinesis. Required; main builds it from aws.Config.
	Client KinesisAPI
	// ConsumerGroup names the checkpoint namespace: subscribers of one group
	// continue from each other's checkpoints, another group reads the
	// stream on its own. "": "default".
	ConsumerGroup string
	// Checkpoints stores positions. nil: a stream.MemoryCheckpointStore of
	// this Subscriber only (positions are lost on Close).
	Checkpoints stream.CheckpointStore
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
	// MaxInFlight and MaxInFlightBytes bound the messages of one shard
	// sent and not yet settled (stream.ShardConfig): above 1 a consumer may
	// take several messages of a shard, in order, and acknowledge them as a
	// batch. 0: 1 message (the next only after the Ack); 16 MiB.
	MaxInFlight      int
	MaxInFlightBytes int
	// Backoff paces retries after throttling and other errors.
	Backoff Backoff
	// Leases shares the stream's shards between the subscribers of the
	// consumer group: a shard is read only by the owner of its lease. nil:
	// no leases, every subscriber of the group reads every shard
	// (checkpoints still never move backwards).
	Leases stream.LeaseStore
	// Owner names this Subscriber in leases; it must be unique among the
	// group's subscribers (several route Subscribers of one process, each
	// in its own group, may share it). "": a random id.
	Owner string
	// LeaseTTL is how long a lease lives without renewal: how soon a dead
	// worker's shards are taken over. Expiry is judged by the store's clock
	// only; the holder stops delivering (LeaseTTL+RenewInterval)/2 after it
	// sent its last successful renewal, by its own monotonic clock, so the
	// clocks' readings may differ arbitrarily: it is enough that over one
	// LeaseTTL the holder's clock lags the store's by less than the margin
	// (LeaseTTL-RenewInterval)/2. A message already handed out when the
	// lease lapses is still waited for. 0: 10s.
	LeaseTTL time.Duration
	// RenewInterval is how often leases are renewed, heartbeats written
	// and leases balanced between the group's live owners. It must be below
	// LeaseTTL. 0: LeaseTTL/3.
	RenewInterval time.Duration
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
		c.Checkpoints = stream.NewMemoryCheckpointStore()
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
	if c.Leases != nil {
		if c.Owner == "" {
			c.Owner = watermill.NewShortUUID()
		}
		if c.LeaseTTL == 0 {
			c.LeaseTTL = 10 * time.Second
		}
		if c.RenewInterval == 0 {
			c.RenewInterval = c.LeaseTTL / 3
		}
	}
	c.Backoff = c.Backoff.WithDefaults(100*time.Millisecond, 5*time.Second)
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
	if c.Leases != nil && (c.LeaseTTL <= 0 || c.RenewInterval <= 0 || c.RenewInterval >= c.LeaseTTL) {
		errs = append(errs, errors.New("kinesis subscriber: RenewInterval must be positive and below LeaseTTL"))
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

	held atomic.Int64 // LeasesHeld
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
// acknowledged so far are checkpointed. Each shard is delivered by a
// stream.Shard: in order, its next message only after the previous one is
// Acked (or while fewer than MaxInFlight are outstanding), a Nacked message
// again after NackResendSleep.
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
		if s.c.Leases != nil {
			sub.runLeased(ctx)
		} else {
			sub.run(ctx)
		}
		close(sub.out)
	}()
	return sub.out, nil
}

// LeasesHeld returns the number of shard leases the Subscriber holds over
// all its subscriptions; without Leases, the number of shards it reads. Safe
// for concurrent use (metrics read it at scrape time).
func (s *Subscriber) LeasesHeld() int { return int(s.held.Load()) }

// Close stops every subscription, waits until their readers have
// checkpointed what was acknowledged and closed their channels, and then
// releases the subscriptions' leases (checkpoints first, so that the next
// owner continues where this one stopped). It is idempotent.
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
	defer func() { sub.s.held.Add(-int64(len(sub.running))) }()
	c := sub.s.c
	timer := time.NewTimer(0)
	defer timer.Stop()
	backoff := c.Backoff.New()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case e := <-sub.exited:
			delete(sub.running, e.shard)
			sub.s.held.Add(-1)
			if !e.finished {
				continue // restarted at the next periodic sync
			}
		}
		if err := sub.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			sub.s.log.Error("kinesis: list shards", err, watermill.LogFields{"stream": sub.stream})
			timer.Reset(backoff.NextBackOff())
			continue
		}
		backoff.Reset()
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
	for _, sh := range readableShards(shards, cps) {
		if sub.running[sh.id] {
			continue
		}
		sub.running[sh.id] = true
		sub.s.held.Add(1)
		sub.start(ctx, sh, cps[sh.id], nil, nil)
	}
	return nil
}

// readable is a shard that may be read now.
type readable struct {
	id        string
	hasParent bool
}

// readableShards returns the shards that are not finished and whose parents
// are finished or trimmed away (children after parents), in shard id order.
func readableShards(shards []types.Shard, cps map[string]stream.Checkpoint) []readable {
	listed := make(map[string]bool, len(shards))
	for _, sh := range shards {
		listed[aws.ToString(sh.ShardId)] = true
	}
	parentDone := func(id *string) bool {
		p := aws.ToString(id)
		return p == "" || !listed[p] || cps[p].Finished
	}
	var out []readable
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if cps[id].Finished || !parentDone(sh.ParentShardId) || !parentDone(sh.AdjacentParentShardId) {
			continue
		}
		out = append(out, readable{id: id,
			hasParent: aws.ToString(sh.ParentShardId) != "" || aws.ToString(sh.AdjacentParentShardId) != ""})
	}
	return out
}

// start runs a reader of the shard from cp; it reports to sub.exited.
func (sub *subscription) start(ctx context.Context, sh readable, cp stream.Checkpoint, stop <-chan struct{}, validUntil *atomic.Int64) {
	r := &shardReader{sub: sub, shard: sh.id, start: cp.SequenceNumber,
		latest: sub.s.c.StartAtLatest && !sh.hasParent, stop: stop, validUntil: validUntil}
	sub.wg.Add(1)
	go func() {
		defer sub.wg.Done()
		finished := r.run(ctx)
		select {
		case sub.exited <- shardExit{sh.id, finished}:
		case <-ctx.Done():
		}
	}()
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
