package kinesis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	wk "github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// orderChecker records deliveries and checks that, per partition key,
// every message arrived and first deliveries came in publishing order.
type orderChecker struct {
	mu     sync.Mutex
	next   map[string]int // key -> next expected index
	dups   int
	nMsgs  int
	done   chan struct{}
	closed bool
	errs   []string
	shards map[string]int // first deliveries per shard
}

func newOrderChecker(keys, perKey int) *orderChecker {
	c := &orderChecker{next: map[string]int{}, nMsgs: keys * perKey, done: make(chan struct{}), shards: map[string]int{}}
	return c
}

// message payload: "<key>:<index>"
func (c *orderChecker) see(msg *message.Message) {
	key, idx, _ := strings.Cut(string(msg.Payload), ":")
	i, _ := strconv.Atoi(idx)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch n := c.next[key]; {
	case i < n:
		c.dups++ // a redelivery of something already seen: allowed
	case i == n:
		c.next[key] = n + 1
		c.shards[msg.Metadata.Get(stream.MetadataShardID)]++
		c.nMsgs--
		if c.nMsgs == 0 && !c.closed {
			c.closed = true
			close(c.done)
		}
	default:
		if len(c.errs) < 10 {
			c.errs = append(c.errs, fmt.Sprintf("key %s: got %d before %d (shard %s)", key, i, n, msg.Metadata.Get(stream.MetadataShardID)))
		}
	}
}

func (c *orderChecker) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nMsgs != 0 {
		t.Errorf("%d messages missing; next expected per key: %v", c.nMsgs, c.next)
	}
	for _, e := range c.errs {
		t.Error("out of order: " + e)
	}
	t.Logf("duplicates (redeliveries): %d; messages by shard: %v", c.dups, c.shards)
}

// publishKeyed publishes perKey messages for each of keys partition keys,
// in batches mixing keys, each key's messages in index order.
func publishKeyed(t *testing.T, pub message.Publisher, topic string, keys, perKey, batch int, pause func(done int)) {
	t.Helper()
	var msgs []*message.Message
	for i := range perKey {
		for k := range keys {
			m := message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, "k%d:%d", k, i))
			m.Metadata.Set(stream.MetadataPartitionKey, fmt.Sprintf("k%d", k))
			msgs = append(msgs, m)
		}
	}
	for i := 0; i < len(msgs); i += batch {
		if pause != nil {
			pause(i)
		}
		if err := pub.Publish(topic, msgs[i:min(i+batch, len(msgs))]...); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// consume acks every message (Nacking every nackEvery-th delivery first)
// and feeds the checker until ctx ends.
func consume(ctx context.Context, msgs <-chan *message.Message, c *orderChecker, nackEvery int) {
	n := 0
	for m := range msgs {
		n++
		if nackEvery > 0 && n%nackEvery == 0 {
			m.Nack()
			continue
		}
		c.see(m)
		m.Ack()
	}
}

// TestFaults_ThrottlingAndExpiredIterators publishes and consumes through
// a proxy that throttles calls, fails PutRecords entries and expires
// iterators; the SDK's own retries are off so the adapter's handling is
// what is tested. Nothing may be missing and each key keeps its order.
func TestFaults_ThrottlingAndExpiredIterators(t *testing.T) {
	target := kinesaliteEndpoint(t)
	proxy, ep := newFaultProxy(t, target)
	proxy.ThrottlePut, proxy.FailEntry = 0.2, 0.2
	proxy.ThrottleGet, proxy.ExpireIterator = 0.2, 0.15
	client := newClient(ep, func(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} })
	topic := streamName("faults")
	createStream(t, newClient(target), topic, 2)

	backoff := wk.Backoff{Initial: 2 * time.Millisecond, Max: 50 * time.Millisecond}
	pub, err := wk.NewPublisher(wk.PublisherConfig{Client: client, Backoff: backoff, MaxAttempts: 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := wk.NewSubscriber(wk.SubscriberConfig{Client: client, Backoff: backoff,
		PollInterval: 10 * time.Millisecond, MinGetRecordsInterval: time.Millisecond, GetRecordsLimit: 100,
		ShardSyncInterval: 200 * time.Millisecond, NackResendSleep: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const keys, perKey = 20, 100
	check := newOrderChecker(keys, perKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	go consume(ctx, msgs, check, 50)
	publishKeyed(t, pub, topic, keys, perKey, 50, nil)
	check.wait(t, 60*time.Second)
	t.Logf("injected: %d PutRecords throttled, %d entries failed, %d GetRecords throttled, %d iterators expired",
		proxy.PutThrottled.Load(), proxy.EntriesFailed.Load(), proxy.GetThrottled.Load(), proxy.Expired.Load())
	if proxy.PutThrottled.Load() == 0 || proxy.EntriesFailed.Load() == 0 || proxy.GetThrottled.Load() == 0 || proxy.Expired.Load() == 0 {
		t.Error("some fault was never injected")
	}
}
