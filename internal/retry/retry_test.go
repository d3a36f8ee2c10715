package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/retry"
)

// TestBackoff_Bounds draws many sequences and checks every wait against
// the documented range: retry n in [d/2, d] (or [0, d] with FullJitter),
// d = min(Max, Initial·2ⁿ), and that the draws do spread over the range.
func TestBackoff_Bounds(t *testing.T) {
	const initial, maxD = 100 * time.Millisecond, 2 * time.Second
	for _, full := range []bool{false, true} {
		b := retry.Backoff{Initial: initial, Max: maxD, FullJitter: full}
		lowest, highest := make([]time.Duration, 8), make([]time.Duration, 8)
		for range 2000 {
			s := b.New()
			for n := range 8 {
				d := min(maxD, initial<<n)
				lo := d / 2
				if full {
					lo = 0
				}
				got := s.NextBackOff()
				// cenkalti's draw may exceed the top of its interval by 1ns.
				if got < lo || got > d+time.Nanosecond {
					t.Fatalf("full=%v retry %d waited %v, want within [%v, %v]", full, n, got, lo, d)
				}
				if lowest[n] == 0 || got < lowest[n] {
					lowest[n] = got
				}
				highest[n] = max(highest[n], got)
			}
		}
		for n := range 8 {
			d := min(maxD, initial<<n)
			lo := d / 2
			if full {
				lo = 0
			}
			if span := d - lo; lowest[n] > lo+span/10 || highest[n] < d-span/10 {
				t.Errorf("full=%v retry %d: draws in [%v, %v], want spread over [%v, %v]", full, n, lowest[n], highest[n], lo, d)
			}
		}
	}
}

func TestBackoff_ResetAndDefaults(t *testing.T) {
	s := retry.Backoff{}.New()
	for range 20 {
		if d := s.NextBackOff(); d > retry.DefaultMax+time.Nanosecond {
			t.Fatalf("zero Backoff waited %v, above DefaultMax", d)
		}
	}
	s.Reset()
	if d := s.NextBackOff(); d < retry.DefaultInitial/2 || d > retry.DefaultInitial+time.Nanosecond {
		t.Fatalf("first wait after Reset %v, want within [%v, %v]", d, retry.DefaultInitial/2, retry.DefaultInitial)
	}
	b := retry.Backoff{Max: time.Minute}.WithDefaults(time.Second, time.Hour)
	if b.Initial != time.Second || b.Max != time.Minute {
		t.Fatalf("WithDefaults = %+v", b)
	}
	// Max below Initial: Initial caps.
	if d := (retry.Backoff{Initial: time.Second, Max: time.Millisecond}).New().NextBackOff(); d > time.Second+time.Nanosecond {
		t.Fatalf("waited %v, want at most 1s", d)
	}
}

func TestSleep(t *testing.T) {
	if err := retry.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("full wait: %v", err)
	}
	if err := retry.Sleep(context.Background(), 0); err != nil {
		t.Fatalf("zero wait: %v", err)
	}
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if err := retry.Sleep(ctx, 0); !errors.Is(err, cause) {
		t.Fatalf("zero wait on a done context: %v", err)
	}
	ctx, cancel = context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- retry.Sleep(ctx, time.Hour) }()
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Fatalf("cancelled wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not return when its context ended")
	}
}
