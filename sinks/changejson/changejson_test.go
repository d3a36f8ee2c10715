package changejson_test

import (
	"encoding/json"
	"testing"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
)

// TestKeys_Stable pins the idempotency key and UUID of a change: receivers
// and brokers dedupe on them across worker versions, so they must never
// change.
func TestKeys_Stable(t *testing.T) {
	k := pipeline.ChangeKey{IdentityPoolID: "us-east-1:p", IdentityID: "us-east-1:i", DatasetName: "d", Key: "k", SyncCount: 7}
	if got := changejson.IdempotencyKey(k); got != goldenKey {
		t.Errorf("IdempotencyKey = %s, want %s", got, goldenKey)
	}
	if got := changejson.UUID(k); got != goldenUUID {
		t.Errorf("UUID = %s, want %s", got, goldenUUID)
	}
}

func TestKeys_Distinct(t *testing.T) {
	base := pipeline.ChangeKey{IdentityPoolID: "p", IdentityID: "i", DatasetName: "d", Key: "k", SyncCount: 1}
	tests := []struct {
		name string
		k    pipeline.ChangeKey
	}{
		{"SyncCount", key("p", "i", "d", "k", 2)},
		{"Key", key("p", "i", "d", "k2", 1)},
		{"FieldsShifted", key("p", "i", "dk", "", 1)},
		{"SeparatorInKey", key("p", "i", `d","k`, "", 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if changejson.IdempotencyKey(tc.k) == changejson.IdempotencyKey(base) || changejson.UUID(tc.k) == changejson.UUID(base) {
				t.Errorf("%+v shares a key with %+v", tc.k, base)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []pipeline.Change{sinktest.Put("us-east-1:a", "k\u2028\"", "v", 3), sinktest.Remove("us-east-1:a", "k", 4), {IdentityPoolID: "p", IdentityID: "i", DatasetName: "d", Key: "k", Op: pipeline.OpRemove}} {
		b, err := json.Marshal(changejson.From(c))
		if err != nil {
			t.Fatal(err)
		}
		var j changejson.Change
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		back, err := j.Pipeline()
		if err != nil {
			t.Fatal(err)
		}
		sinktest.Equal(t, sinktest.Fold([]pipeline.Change{back}), sinktest.Fold([]pipeline.Change{c}))
	}
}

func TestPipeline_Rejects(t *testing.T) {
	good := changejson.From(sinktest.Put("us-east-1:a", "k", "v", 1))
	tests := []struct {
		name   string
		modify func(*changejson.Change)
	}{
		{"UnknownOp", func(j *changejson.Change) { j.Op = "upsert" }},
		{"NoKey", func(j *changejson.Change) { j.Key = "" }},
		{"IDMismatch", func(j *changejson.Change) { j.SyncCount = 2 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := good
			tc.modify(&j)
			if _, err := j.Pipeline(); err == nil {
				t.Error("Pipeline() accepted it")
			}
		})
	}
}

func key(pool, identity, dataset, k string, n int64) pipeline.ChangeKey {
	return pipeline.ChangeKey{IdentityPoolID: pool, IdentityID: identity, DatasetName: dataset, Key: k, SyncCount: n}
}
