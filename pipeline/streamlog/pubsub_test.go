package streamlog_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline/streamlog"
)

// features are what the stream log guarantees, as Watermill's suite
// understands them:
//
//   - ConsumerGroups: a consumer group is a checkpoint namespace; each group
//     reads the whole log.
//   - ExactlyOnceDelivery false: at-least-once. A message acknowledged after
//     the last checkpoint write is read again after a restart.
//   - GuaranteedOrder: a shard is delivered in order, its next message only
//     after the previous one's Ack. The suite's messages carry no partition
//     key (so the UUID is the key), hence its logs have one shard here;
//     order per partition key over several shards is
//     TestStreamLog_OrderPerPartitionKey's job.
//   - GuaranteedOrderWithSingleSubscriber: two live subscribers of one group
//     both read every shard (the log has no leases: one worker reads it), so
//     messages fanned in from several subscribers interleave duplicates out
//     of order.
//   - Persistent: records stay in the database until retention drops them.
//   - NewSubscriberReceivesOldMessages false here: the suite builds every
//     subscriber of a test in one consumer group (continuing each other's
//     checkpoints is what TestContinueAfterSubscribeClose checks). A new
//     group does read the retained history: TestNewSubscriberReceivesOldMessages
//     below runs that test with a fresh group per subscriber.
//   - RestartServiceCommand unset (TestReconnect skips): the log is the
//     database the worker opened; there is no broker to restart.
var features = tests.Features{
	ConsumerGroups:                      true,
	ExactlyOnceDelivery:                 false,
	GuaranteedOrder:                     true,
	GuaranteedOrderWithSingleSubscriber: true,
	Persistent:                          true,
	NewSubscriberReceivesOldMessages:    false,
}

// pubSubs returns a constructor of publisher/subscriber pairs on one
// database, as separate processes sharing a worker database: the publisher
// is a Log, the subscriber a Subscriber of the group from another Log (the
// suite closes publishers it does not need, and a Log's Close ends its
// subscriptions). Subscribers are woken by appends of their own Log only
// and poll for the others', hence the shorter PollInterval.
func pubSubs(h *sqldb.Handle, shards int) func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
	return func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		pub := newLog(t, h, streamlog.Config{Shards: shards})
		l := newLog(t, h, streamlog.Config{Shards: shards})
		// The default CheckpointInterval (1 s): the suite's 50 concurrent
		// subscribers would otherwise queue behind SQLite's single writer.
		s, err := l.NewSubscriber(streamlog.SubscriberConfig{ConsumerGroup: group,
			NackResendSleep: 10 * time.Millisecond, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return pub, s
	}
}

// runSuite runs Watermill's full suite (not short: ForceShort is off) on a
// fresh SQLite file and, with SYNC_TEST_POSTGRES_URL, a fresh PostgreSQL
// schema.
func runSuite(t *testing.T, f tests.Features, shards int,
	suite func(*testing.T, tests.Features, tests.PubSubConstructor, tests.ConsumerGroupPubSubConstructor)) {
	forEachDialect(t, func(t *testing.T, open logDB) {
		newPubSub := pubSubs(open(t), shards)
		suite(t, f,
			func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, "suite") },
			func(t *testing.T, group string) (message.Publisher, message.Subscriber) { return newPubSub(t, group) })
	})
}

func TestPubSub(t *testing.T) {
	runSuite(t, features, 1, tests.TestPubSub)
}

// TestPubSubStressTest runs the suite 10 times in parallel on 3-shard logs:
// shards read concurrently, messages spread by UUID partition keys. Order
// holds per shard only, so GuaranteedOrder is off here; the short counts
// (ForceShort) keep ten parallel suites within the test budget, the full
// counts run once in TestPubSub.
func TestPubSubStressTest(t *testing.T) {
	f := features
	f.GuaranteedOrder = false
	f.ForceShort = true
	runSuite(t, f, 3, tests.TestPubSubStressTest)
}

// TestNewSubscriberReceivesOldMessages: a subscriber of a new consumer group
// reads everything the log retains.
func TestNewSubscriberReceivesOldMessages(t *testing.T) {
	f := features
	f.NewSubscriberReceivesOldMessages = true
	forEachDialect(t, func(t *testing.T, open logDB) {
		newPubSub := pubSubs(open(t), 1)
		tests.TestNewSubscriberReceivesOldMessages(t, tests.TestContext{TestID: tests.NewTestID(), Features: f},
			func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, watermill.NewUUID()) })
	})
}
