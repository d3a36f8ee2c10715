package kinesis_test

import (
	"context"
	"math/big"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	wk "github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

func openShards(t *testing.T, c *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	out, err := c.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var open []types.Shard
	for _, s := range out.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	hash := func(s types.Shard) *big.Int {
		n, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
		return n
	}
	sort.Slice(open, func(i, j int) bool { return hash(open[i]).Cmp(hash(open[j])) < 0 })
	return open
}

// TestSubscriber_Reshard splits a shard and then merges two shards while
// messages of 16 partition keys are published and consumed (kinesis-local:
// kinesalite wrongly allows splitting a shard twice). Every message must
// arrive and each key's messages in order: children are read only after
// their parents are finished and checkpointed.
func TestSubscriber_Reshard(t *testing.T) {
	ep := endpoint(t, "SYNC_TEST_KINESIS_MOCK_ENDPOINT")
	client := newClient(ep)
	topic := streamName("reshard")
	createStream(t, client, topic, 2)

	pub, err := wk.NewPublisher(wk.PublisherConfig{Client: client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	store := stream.NewMemoryCheckpointStore()
	sub, err := wk.NewSubscriber(wk.SubscriberConfig{Client: client, Checkpoints: store,
		PollInterval: 50 * time.Millisecond, MinGetRecordsInterval: 20 * time.Millisecond,
		ShardSyncInterval: 500 * time.Millisecond, NackResendSleep: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const keys, perKey = 16, 60
	check := newOrderChecker(keys, perKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	go consume(ctx, msgs, check, 97)

	total := keys * perKey
	split, merged := false, false
	publishKeyed(t, pub, topic, keys, perKey, 32, func(done int) {
		switch {
		case !split && done >= total/3:
			split = true
			s := openShards(t, client, topic)[0]
			lo, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
			hi, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
			mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
			if _, err := client.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String(topic),
				ShardToSplit: s.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
				t.Fatalf("split: %v", err)
			}
			// Publishing goes on: the next third of the records lands in the
			// children while the reader may still be in their parent.
			waitActive(t, client, topic)
		case !merged && done >= 2*total/3:
			merged = true
			open := openShards(t, client, topic)
			// The second child of the split and its neighbour: a merge whose
			// parents are a child (itself waiting for its parent) and an
			// original shard.
			if _, err := client.MergeShards(context.Background(), &kinesis.MergeShardsInput{StreamName: aws.String(topic),
				ShardToMerge: open[1].ShardId, AdjacentShardToMerge: open[2].ShardId}); err != nil {
				t.Fatalf("merge: %v", err)
			}
			waitActive(t, client, topic)
		}
	})
	check.wait(t, 90*time.Second)

	out, err := client.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(topic)})
	if err != nil {
		t.Fatal(err)
	}
	cps, _ := store.Checkpoints(context.Background(), "default", topic)
	closed := 0
	for _, s := range out.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber != nil {
			closed++
			if !cps[aws.ToString(s.ShardId)].Finished {
				t.Errorf("closed shard %s not checkpointed as finished: %+v", aws.ToString(s.ShardId), cps[aws.ToString(s.ShardId)])
			}
		}
	}
	if len(out.Shards) != 5 || closed != 3 {
		t.Errorf("want 5 shards, 3 closed after split and merge; got %d, %d closed", len(out.Shards), closed)
	}
}
