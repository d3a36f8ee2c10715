package main_test

// The worker's NATS JetStream sink end to end: the real syncd and worker
// processes, a --config whose only sink is type nats, changes written with
// the official SDK and identity credentials, and every message read back
// from JetStream by a plain NATS client.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/nats-io/nats.go"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
	wmsink "github.com/cognitosync/cognitosync/sinks/watermill"
)

// TestE2E_NATSSink: every change syncd acknowledged reaches the JetStream
// stream the sink creates, once (Nats-Msg-Id drops replays), with the
// value, operation and SyncCount syncd returned, and the idempotency key as
// message UUID and metadata.
func TestE2E_NATSSink(t *testing.T) {
	natsURL := synctest.ServiceURL(t, "SYNC_TEST_NATS_URL")
	s := newStack(t, 2)
	b := make([]byte, 6)
	rand.Read(b)
	topic := "cognitosync_e2e_" + hex.EncodeToString(b)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(topic) })

	cfg := workerConfig(t, fmt.Sprintf("sinks:\n  - {name: bus, type: nats, url: %q, topic: %s}\nroutes:\n  - {name: all, sinks: [bus]}\n", natsURL, topic))
	s.startWorker(t, cfg, t.TempDir(), "nats")
	l := newLoad(t, s, 3, 2)
	l.run(t, 300, 4)
	want := l.changes()

	// Wait until the stream holds a message per acknowledged change.
	deadline := time.Now().Add(convergeWithin)
	for {
		info, err := js.StreamInfo(topic)
		if err == nil && info.State.Msgs >= uint64(len(want)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream stream %s: %+v (err %v) after %v, want %d messages", topic, info, err, convergeWithin, len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}

	sub, err := js.SubscribeSync(topic, nats.DeliverAll(), nats.AckNone())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	got := map[changeKey]pipeline.Change{}
	for len(got) < len(want) {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("read %d of %d messages: %v", len(got), len(want), err)
		}
		msg, err := (&wmnats.NATSMarshaler{}).Unmarshal(m)
		if err != nil {
			t.Fatal(err)
		}
		c, err := wmsink.Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		k := changeKey{recKey{c.IdentityID, c.DatasetName, c.Key}, c.SyncCount}
		if _, dup := got[k]; dup {
			t.Errorf("change %v published twice", k)
		}
		got[k] = c
		if m.Header.Get(nats.MsgIdHdr) != msg.UUID || msg.UUID != changejson.UUID(c.ID()) ||
			msg.Metadata.Get(wmsink.MetaIdempotencyKey) != changejson.IdempotencyKey(c.ID()) ||
			msg.Metadata.Get(wmsink.MetaSyncCount) != strconv.FormatInt(c.SyncCount, 10) {
			t.Errorf("change %v: Nats-Msg-Id %q, UUID %q, metadata %v do not carry its idempotency key",
				k, m.Header.Get(nats.MsgIdHdr), msg.UUID, msg.Metadata)
		}
		st, ok := want[k]
		switch {
		case !ok:
			t.Errorf("message for %v, which syncd never acknowledged", k)
		case c.IdentityPoolID != s.pool:
			t.Errorf("change %v: pool %q, want %q", k, c.IdentityPoolID, s.pool)
		case st.value == nil && (c.Op != pipeline.OpRemove || c.Value != nil):
			t.Errorf("change %v: %s %v, want a remove", k, c.Op, c.Value)
		case st.value != nil && (c.Op != pipeline.OpReplace || c.Value == nil || *c.Value != *st.value):
			t.Errorf("change %v: %s %v, want replace %q", k, c.Op, c.Value, *st.value)
		}
	}
	if info, err := js.StreamInfo(topic); err != nil || info.State.Msgs != uint64(len(want)) {
		t.Errorf("stream holds %v messages (err %v), want exactly %d", info.State.Msgs, err, len(want))
	}
	t.Logf("%d UpdateRecords, %d changes, all read back from JetStream", l.done.Load(), len(want))
}
