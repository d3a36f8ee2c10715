package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
	"github.com/cognitosync/cognitosync/sinks/webhook"
)

var secret = []byte("s3cr3t")

// receiver is a webhook endpoint that verifies every request and keeps the
// changes it accepted; fail decides the status of attempt n (from 1) and 0
// means accept.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	attempts int
	requests []*http.Request // every attempt, verified or not
	changes  []pipeline.Change
	fail     func(n int) int
	t        *testing.T
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	r := &receiver{fail: fail, t: t}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	p, err := webhook.Verify(secret, r)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	rc.requests = append(rc.requests, r)
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if rc.fail != nil {
		if code := rc.fail(rc.attempts); code != 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "try later", code)
			return
		}
	}
	for _, j := range p.Changes {
		c, err := j.Pipeline()
		if err != nil {
			rc.t.Errorf("receiver: %v", err)
			continue
		}
		rc.changes = append(rc.changes, c)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() (int, []pipeline.Change, []*http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts, append([]pipeline.Change(nil), rc.changes...), append([]*http.Request(nil), rc.requests...)
}

func newSink(t *testing.T, c webhook.Config) *webhook.Sink {
	t.Helper()
	if c.Secret == nil {
		c.Secret = secret
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Millisecond
	}
	s, err := webhook.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var batch = []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1), sinktest.Remove("us-east-1:a", "j", 2)}

func TestConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T) (pipeline.Sink, func(*testing.T) sinktest.State) {
		rc := newReceiver(t, nil)
		s := newSink(t, webhook.Config{URL: rc.URL, MaxBatch: 3})
		return s, func(t *testing.T) sinktest.State {
			_, changes, _ := rc.snapshot()
			return sinktest.Fold(changes)
		}
	}})
}

func TestWrite_Retries(t *testing.T) {
	tests := []struct {
		name         string
		fail         func(n int) int
		maxAttempts  int
		wantErr      bool
		wantPerm     bool
		wantAttempts int
	}{
		{"FailsThreeTimesThenRecovers", func(n int) int { return map[int]int{1: 500, 2: 503, 3: 429}[n] }, 0, false, false, 4},
		{"RequestTimeoutIsRetried", func(n int) int { return map[int]int{1: 408}[n] }, 0, false, false, 2},
		{"BudgetExhausted", func(int) int { return 502 }, 4, true, false, 4},
		{"BadRequestIsPermanent", func(int) int { return 400 }, 0, true, true, 1},
		{"GoneIsPermanent", func(int) int { return 410 }, 0, true, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, tc.fail)
			s := newSink(t, webhook.Config{URL: rc.URL, MaxAttempts: tc.maxAttempts})
			err := s.Write(context.Background(), batch)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Write = %v, want error %v", err, tc.wantErr)
			}
			if got := pipeline.IsPermanent(err); got != tc.wantPerm {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.wantPerm)
			}
			attempts, changes, reqs := rc.snapshot()
			if attempts != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", attempts, tc.wantAttempts)
			}
			if !tc.wantErr {
				sinktest.Equal(t, sinktest.Fold(changes), sinktest.Fold(batch))
			}
			// Every retry carries the same idempotency key.
			for _, r := range reqs {
				if got, want := r.Header.Get(webhook.HeaderIdempotencyKey), reqs[0].Header.Get(webhook.HeaderIdempotencyKey); got != want || len(got) != 64 {
					t.Errorf("idempotency key %q, first attempt had %q", got, want)
				}
			}
		})
	}
}

// TestWrite_NetworkErrorsAreRetried: the endpoint's first two connections
// are cut before any answer.
func TestWrite_NetworkErrorsAreRetried(t *testing.T) {
	rc := newReceiver(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if conns.Add(1) <= 2 {
				c.Close()
				continue
			}
			go proxy(c, rc.Listener.Addr().String())
		}
	}()
	s := newSink(t, webhook.Config{URL: "http://" + ln.Addr().String()})
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n < 3 {
		t.Errorf("connections = %d, want at least 3", n)
	}
	_, changes, _ := rc.snapshot()
	sinktest.Equal(t, sinktest.Fold(changes), sinktest.Fold(batch))
}

func proxy(c net.Conn, addr string) {
	defer c.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { copyConn(up, c) }()
	copyConn(c, up)
}

func copyConn(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestWrite_ConnectionRefusedGivesUp(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	s := newSink(t, webhook.Config{URL: "http://" + addr, MaxAttempts: 3})
	err := s.Write(context.Background(), batch)
	if err == nil || pipeline.IsPermanent(err) {
		t.Errorf("Write = %v, want a retryable error", err)
	}
}

func TestWrite_ContextCanceledStopsRetrying(t *testing.T) {
	rc := newReceiver(t, func(int) int { return 503 })
	s := newSink(t, webhook.Config{URL: rc.URL, InitialBackoff: time.Hour, MaxBackoff: time.Hour, RetryBudget: 2 * time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Write(ctx, batch)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Write = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Write took %s after its context ended", d)
	}
}

func TestWrite_SplitsBatchesInOrder(t *testing.T) {
	rc := newReceiver(t, nil)
	s := newSink(t, webhook.Config{URL: rc.URL, MaxBatch: 2, Header: http.Header{"Authorization": {"Bearer t"}}})
	var in []pipeline.Change
	for i := range 5 {
		in = append(in, sinktest.Put("us-east-1:a", "k", strconv.Itoa(i), int64(i+1)))
	}
	if err := s.Write(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	attempts, changes, reqs := rc.snapshot()
	if attempts != 3 {
		t.Errorf("requests = %d, want 3", attempts)
	}
	for i, c := range changes {
		if c.SyncCount != int64(i+1) {
			t.Errorf("change %d has SyncCount %d: out of order", i, c.SyncCount)
		}
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers = %v", r.Header)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"changes":[]}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := "sha256=" + webhook.Sign(secret, ts, body)
	tests := []struct {
		name          string
		body          []byte
		ts, sig       string
		wantSignature bool // error wraps ErrSignature
		wantErr       bool
	}{
		{"Valid", body, ts, sig, false, false},
		{"WrongSecret", body, ts, "sha256=" + webhook.Sign([]byte("other"), ts, body), true, true},
		{"TamperedBody", []byte(`{"changes":[{}]}`), ts, sig, true, true},
		{"TimestampNotSigned", body, strconv.FormatInt(now.Unix()+1, 10), sig, true, true},
		{"ReplayedLater", body, strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10), "sha256=" + webhook.Sign(secret, strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10), body), true, true},
		{"FromTheFuture", body, strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), "sha256=" + webhook.Sign(secret, strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), body), true, true},
		{"NoTimestamp", body, "", sig, true, true},
		{"NoSignature", body, ts, "", true, true},
		{"NotHex", body, ts, "sha256=zz", true, true},
		{"WrongScheme", body, ts, strings.Replace(sig, "sha256=", "sha1=", 1), true, true},
		{"AuthenticButNotJSON", []byte("nope"), ts, "sha256=" + webhook.Sign(secret, ts, []byte("nope")), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tc.body))
			if tc.ts != "" {
				r.Header.Set(webhook.HeaderTimestamp, tc.ts)
			}
			if tc.sig != "" {
				r.Header.Set(webhook.HeaderSignature, tc.sig)
			}
			_, err := webhook.Verifier{Secret: secret, Now: func() time.Time { return now }}.Verify(r)
			if (err != nil) != tc.wantErr || errors.Is(err, webhook.ErrSignature) != tc.wantSignature {
				t.Errorf("Verify = %v, want error %v (ErrSignature %v)", err, tc.wantErr, tc.wantSignature)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		c    webhook.Config
		ok   bool
	}{
		{"Empty", webhook.Config{}, false},
		{"NoSecret", webhook.Config{URL: "https://example.com/hook"}, false},
		{"RelativeURL", webhook.Config{URL: "/hook", Secret: secret}, false},
		{"FTP", webhook.Config{URL: "ftp://example.com/hook", Secret: secret}, false},
		{"NegativeBatch", webhook.Config{URL: "https://example.com/hook", Secret: secret, MaxBatch: -1}, false},
		{"OK", webhook.Config{URL: "https://example.com/hook", Secret: secret}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
