package outbox_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/pipeline/stream"
	"github.com/cognitosync/cognitosync/pipeline/streamlog"
	"github.com/cognitosync/cognitosync/syncapi"
)

// TestForwarder_StreamLogDeletesAfterAppend: fed to the embedded mode's
// stream log, an outbox row goes only once the append committed; with the
// log closed (append fails) the row stays.
func TestForwarder_StreamLogDeletesAfterAppend(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000007"
	streamingPool(t, s, pool, "events")
	write(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:a", Name: "d"}, 0, "a", "1")
	h, err := sqldb.Open(t.Context(), sqldb.Config{URL: filepath.Join(t.TempDir(), "worker.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rows := func() (n int) {
		t.Helper()
		if err := h.Read.QueryRow("SELECT COUNT(*) FROM stream_log").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	l, err := streamlog.New(t.Context(), streamlog.Config{DB: h})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed, err := streamlog.New(t.Context(), streamlog.Config{DB: h})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	f := newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: closed, MaxRecordBytes: -1})
	if err := f.Flush(t.Context()); err == nil || pendingCount(t, s) != 1 || rows() != 0 {
		t.Fatalf("closed log: %v, pending %d, rows %d", err, pendingCount(t, s), rows())
	}
	f = newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: l, MaxRecordBytes: -1})
	if err := f.Flush(t.Context()); err != nil || pendingCount(t, s) != 0 || rows() != 1 {
		t.Fatalf("without subscriber: %v, pending %d, rows %d", err, pendingCount(t, s), rows())
	}
	sub, err := l.NewSubscriber(streamlog.SubscriberConfig{ConsumerGroup: "g"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(t.Context(), "events")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ch:
		if m.Metadata.Get(stream.MetadataPartitionKey) != "us-east-1:a" || !strings.Contains(string(m.Payload), `"dataSetName":"d"`) {
			t.Fatalf("record: %s %v", m.Payload, m.Metadata)
		}
		m.Ack()
	case <-time.After(10 * time.Second):
		t.Fatal("no record within 10 s")
	}
}
