// Package webhook is a sink that POSTs batches of changes as signed JSON to
// an HTTP endpoint, and the Verify helper its receivers use.
//
// Request: POST Config.URL with Content-Type application/json and the body
//
//	{"changes":[<changejson.Change>, …]}
//
// (see package changejson: every field of the change plus "id", its
// idempotency key; times RFC 3339 with nanoseconds, UTC). Headers:
//
//	X-Cognitosync-Timestamp:       <Unix seconds when this attempt was signed>
//	X-Cognitosync-Signature:       sha256=<hex HMAC-SHA256(Secret, timestamp + "." + body)>
//	X-Cognitosync-Idempotency-Key: <hex SHA-256 of the request's change ids, in order>
//
// The timestamp is inside the MAC so a captured request cannot be replayed
// later: Verify rejects one signed more than DefaultTolerance (5 min) from
// the receiver's clock. Each retry is signed again with a fresh timestamp;
// its body and idempotency key stay the same.
//
// Guarantees:
//   - Delivery: Write returns nil only after the endpoint answered 2xx to
//     every request of the batch (batches larger than MaxBatch are split
//     into requests sent one after another, in order).
//   - Retries: network errors, 408, 429 and 5xx are retried with
//     exponential backoff and full jitter (Retry-After honoured up to
//     MaxBackoff) until MaxAttempts or the RetryBudget run out; then Write
//     returns the last error and the router delivers the batch again later.
//     Any other 4xx is a *StatusError whose Permanent() is true: sending
//     the same body again cannot succeed, so the router may poison it.
//   - Idempotency: at least once. Replays, retries after a lost response
//     and a router redelivering a partly sent batch repeat changes;
//     receivers dedupe on each change's "id" (the idempotency key of
//     (identityPoolId, identityId, datasetName, key, syncCount)), or on the
//     request's idempotency key header for whole requests, and apply a
//     change only if its syncCount is above the one they hold.
//   - Ordering: the order of the batch, which is stream order per shard
//     when one router feeds the sink.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
)

// Header names.
const (
	HeaderSignature      = "X-Cognitosync-Signature"
	HeaderTimestamp      = "X-Cognitosync-Timestamp"
	HeaderIdempotencyKey = "X-Cognitosync-Idempotency-Key"
)

// Payload is the request body.
type Payload struct {
	Changes []changejson.Change `json:"changes"`
}

// Config configures a Sink.
type Config struct {
	// URL is the http or https endpoint. Required.
	URL string
	// Secret is the HMAC-SHA256 key the receiver shares. Required.
	Secret []byte
	// Header is added to every request (e.g. Authorization).
	Header http.Header
	// Client sends the requests. nil: an http.Client with a 30 s timeout.
	Client *http.Client
	// MaxBatch is the most changes per request. 0: 500.
	MaxBatch int
	// MaxAttempts bounds the attempts per request. 0: 8.
	MaxAttempts int
	// InitialBackoff is the backoff cap of the first retry, doubling per
	// retry up to MaxBackoff. 0: 200 ms.
	InitialBackoff time.Duration
	// MaxBackoff caps one wait. 0: 10 s.
	MaxBackoff time.Duration
	// RetryBudget bounds the time one request may spend retrying. 0: 1 min.
	RetryBudget time.Duration
	// Name is the sink's name in metrics and route tables. "": "webhook".
	Name string
	// Registerer receives the sink metrics; nil: none.
	Registerer prometheus.Registerer
	// Now is the clock of the signature timestamp; nil: time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 500
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = 200 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.RetryBudget == 0 {
		c.RetryBudget = time.Minute
	}
	if c.Name == "" {
		c.Name = "webhook"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a missing or non-HTTP URL, an empty Secret and negative
// limits.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("webhook: URL %q must be an absolute http or https URL", c.URL))
	}
	if len(c.Secret) == 0 {
		errs = append(errs, errors.New("webhook: Secret is required"))
	}
	if c.MaxBatch < 0 || c.MaxAttempts < 0 || c.InitialBackoff < 0 || c.MaxBackoff < 0 || c.RetryBudget < 0 {
		errs = append(errs, errors.New("webhook: MaxBatch, MaxAttempts, InitialBackoff, MaxBackoff and RetryBudget must not be negative"))
	}
	return errors.Join(errs...)
}

// StatusError is a non-2xx answer.
type StatusError struct {
	StatusCode int
	Body       string // the first 512 bytes
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("webhook: HTTP %d: %s", e.StatusCode, e.Body)
}

// Permanent reports whether sending the same request again cannot help:
// a 4xx other than 408 Request Timeout and 429 Too Many Requests. The
// router finds it through pipeline.IsPermanent.
func (e *StatusError) Permanent() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && !retryableStatus(e.StatusCode)
}

func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// Sink posts changes to a webhook. Safe for concurrent use.
type Sink struct {
	c       Config
	metrics *pipeline.SinkMetrics
}

var _ pipeline.Sink = (*Sink)(nil)

// New validates c.
func New(c Config) (*Sink, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := pipeline.NewSinkMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("webhook: metrics: %w", err)
	}
	return &Sink{c: c, metrics: m}, nil
}

// Name returns Config.Name.
func (s *Sink) Name() string { return s.c.Name }

// Close does nothing: the Sink holds no resources of its own.
func (s *Sink) Close() error { return nil }

// Write posts the batch in requests of at most MaxBatch changes, in order,
// retrying each as the package comment says. It returns the first request's
// final error; a *StatusError with Permanent() true means retrying cannot
// help.
func (s *Sink) Write(ctx context.Context, batch []pipeline.Change) (err error) {
	start := time.Now()
	defer func() { s.metrics.Observe(s.c.Name, start, len(batch), err) }()
	for len(batch) > 0 {
		n := min(len(batch), s.c.MaxBatch)
		if err := s.post(ctx, changejson.FromBatch(batch[:n])); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return ctx.Err()
}

func (s *Sink) post(ctx context.Context, changes []changejson.Change) error {
	body, err := json.Marshal(Payload{Changes: changes})
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	key := sha256.New()
	for _, c := range changes {
		io.WriteString(key, c.ID+"\n")
	}
	idem := hex.EncodeToString(key.Sum(nil))
	deadline := time.Now().Add(s.c.RetryBudget)
	backoff := retry.Backoff{Initial: s.c.InitialBackoff, Max: s.c.MaxBackoff, FullJitter: true}.New()
	var last error
	for attempt := 0; attempt < s.c.MaxAttempts; attempt++ {
		if attempt > 0 {
			wait := backoff.NextBackOff()
			var ra *retryAfterError
			if errors.As(last, &ra) && ra.after > 0 {
				wait = min(ra.after, s.c.MaxBackoff) // the server knows best, within our cap
			}
			if time.Now().Add(wait).After(deadline) {
				break
			}
			if retry.Sleep(ctx, wait) != nil {
				return fmt.Errorf("webhook: %w (last error: %w)", ctx.Err(), last)
			}
		}
		last = s.attempt(ctx, body, idem)
		var se *StatusError
		if last == nil || (errors.As(last, &se) && se.Permanent()) {
			return last
		}
		if ctx.Err() != nil {
			return fmt.Errorf("webhook: %w (last error: %w)", ctx.Err(), last)
		}
	}
	return fmt.Errorf("webhook: giving up after retries: %w", last)
}

func (s *Sink) attempt(ctx context.Context, body []byte, idem string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.c.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	for k, vs := range s.c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	ts := strconv.FormatInt(s.c.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, "sha256="+Sign(s.c.Secret, ts, body))
	req.Header.Set(HeaderIdempotencyKey, idem)
	resp, err := s.c.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &retryAfterError{StatusError: &StatusError{StatusCode: resp.StatusCode, Body: string(snippet)}, after: retryAfter(resp)}
}

// retryAfterError carries a Retry-After hint next to a StatusError.
type retryAfterError struct {
	*StatusError
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.StatusError }

func retryAfter(resp *http.Response) time.Duration {
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

// Sign returns the hex HMAC-SHA256 of timestamp + "." + body under secret:
// the value of the signature header after "sha256=".
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	io.WriteString(m, timestamp)
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
