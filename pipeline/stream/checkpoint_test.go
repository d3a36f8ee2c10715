package stream_test

import (
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline/checkpoint/checkpointtest"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

func TestCompareSequenceNumbers(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "1", -1}, {"9", "10", -1}, {"10", "9", 1}, {"010", "10", 0},
		{"49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692540925702759324208523137515618", -1},
	} {
		if got := stream.CompareSequenceNumbers(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestMemoryCheckpointStore(t *testing.T) {
	checkpointtest.Run(t, func(*testing.T) stream.CheckpointStore { return stream.NewMemoryCheckpointStore() })
}

func TestMemoryLeaseStore(t *testing.T) {
	checkpointtest.RunLeases(t, func(_ *testing.T, now func() time.Time) stream.LeaseStore {
		return &stream.MemoryLeaseStore{Now: now}
	})
}

func TestFormatArrivalTime(t *testing.T) {
	at := time.Date(2025, 3, 1, 13, 4, 5, 678900000, time.FixedZone("CET", 3600))
	if got := stream.FormatArrivalTime(at); got != "2025-03-01T12:04:05.678Z" {
		t.Errorf("FormatArrivalTime = %s", got)
	}
}
