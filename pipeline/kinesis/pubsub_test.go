package kinesis_test

import (
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	wk "github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// features are what this adapter guarantees, as Watermill's suite
// understands them:
//
//   - ConsumerGroups: a consumer group is a checkpoint namespace; each group
//     reads the whole stream.
//   - ExactlyOnceDelivery false: at-least-once. A message acknowledged after
//     the last checkpoint write is read again after a restart.
//   - GuaranteedOrder: Kinesis keeps order per shard, and the Subscriber hands
//     out a shard's next message only after the previous one's Ack, so one
//     subscriber sees each shard in order. The suite's messages carry no
//     partition key (so the UUID is the key), hence its streams have one
//     shard here; order per partition key across several shards and
//     resharding is TestSubscriber_Reshard's job.
//   - GuaranteedOrderWithSingleSubscriber: the suite's subscribers have no
//     leases, so two live subscribers of one group both read every shard and
//     messages fanned in from several subscribers interleave duplicates out
//     of order. Sharing shards through leases is TestSubscriber_Leases' job.
//   - Persistent: records stay in the stream for its retention period.
//   - NewSubscriberReceivesOldMessages false here: the suite builds every
//     subscriber of a test in one consumer group (continuing each other's
//     checkpoints is what TestContinueAfterSubscribeClose checks). A new
//     group does read the retained history: TestNewSubscriberReceivesOldMessages
//     below runs that test with a fresh group per subscriber.
//   - ForceShort false: TestPubSub runs the suite's full counts (5,000-10,000
//     messages, 50 concurrent subscribers); `go test -short` runs the short
//     ones.
//   - RestartServiceCommand unset (TestReconnect skips): kinesalite keeps
//     streams in memory, so a restart loses them and there is nothing to
//     reconnect to.
var features = tests.Features{
	ConsumerGroups:                      true,
	ExactlyOnceDelivery:                 false,
	GuaranteedOrder:                     true,
	GuaranteedOrderWithSingleSubscriber: true,
	Persistent:                          true,
	NewSubscriberReceivesOldMessages:    false,
}

// One store for the whole package: every test uses fresh topics, and the
// constructor's subscribers of one test share a group, so they continue from
// each other's checkpoints like separate processes sharing PostgreSQL.
var store = stream.NewMemoryCheckpointStore()

func newPubSub(t *testing.T, group string, shards int32) (message.Publisher, message.Subscriber) {
	t.Helper()
	client := newClient(kinesaliteEndpoint(t))
	var logger watermill.LoggerAdapter = watermill.NopLogger{}
	if os.Getenv("KINESIS_TEST_LOG") != "" {
		logger = watermill.NewStdLogger(os.Getenv("KINESIS_TEST_LOG") == "debug", false)
	}
	pub, err := wk.NewPublisher(wk.PublisherConfig{Client: client, CreateStreamShards: shards}, logger)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := wk.NewSubscriber(wk.SubscriberConfig{
		Client:             client,
		ConsumerGroup:      group,
		Checkpoints:        store,
		CreateStreamShards: shards,
		// kinesalite has no per-shard limits; the AWS defaults (5 calls/s,
		// 1s idle poll) would make the suite's many short reads slow.
		PollInterval:          20 * time.Millisecond,
		MinGetRecordsInterval: 5 * time.Millisecond,
		ShardSyncInterval:     time.Second,
		CheckpointInterval:    50 * time.Millisecond,
		NackResendSleep:       10 * time.Millisecond,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return pub, sub
}

func TestPubSub(t *testing.T) {
	kinesaliteEndpoint(t)
	tests.TestPubSub(t, features,
		func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, "suite", 1) },
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, group, 1)
		},
	)
}

// TestPubSubStressTest runs the suite 10 times in parallel on 3-shard
// streams: shards read concurrently, messages spread by UUID partition keys.
// Order holds per shard only, so GuaranteedOrder is off here; the short
// counts (ForceShort) keep ten parallel suites within the test budget, the
// full counts run once in TestPubSub.
func TestPubSubStressTest(t *testing.T) {
	kinesaliteEndpoint(t)
	f := features
	f.GuaranteedOrder = false
	f.ForceShort = true
	tests.TestPubSubStressTest(t, f,
		func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, "suite", 3) },
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, group, 3)
		},
	)
}

// TestNewSubscriberReceivesOldMessages: a subscriber of a new consumer group
// reads everything the stream retains.
func TestNewSubscriberReceivesOldMessages(t *testing.T) {
	kinesaliteEndpoint(t)
	f := features
	f.NewSubscriberReceivesOldMessages = true
	tests.TestNewSubscriberReceivesOldMessages(t, tests.TestContext{TestID: tests.NewTestID(), Features: f},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, watermill.NewUUID(), 1)
		})
}
