package webhook

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a request's signed timestamp may be from the
// receiver's clock.
const DefaultTolerance = 5 * time.Minute

// MaxBodyBytes bounds the body Verify reads.
const MaxBodyBytes = 32 << 20

// ErrSignature is wrapped by every Verify error about the signature or the
// timestamp: answer 401 to it.
var ErrSignature = errors.New("webhook: bad signature")

// Verifier checks requests of a Sink. The zero Tolerance is
// DefaultTolerance; a nil Now is time.Now.
type Verifier struct {
	Secret    []byte
	Tolerance time.Duration
	Now       func() time.Time
}

// Verify checks r with Verifier{Secret: secret}: for receivers.
//
//	payload, err := webhook.Verify(secret, r)
//	if errors.Is(err, webhook.ErrSignature) { http.Error(w, "unauthorized", 401); return }
func Verify(secret []byte, r *http.Request) (Payload, error) {
	return Verifier{Secret: secret}.Verify(r)
}

// Verify reads r's body (up to MaxBodyBytes), checks the timestamp is
// within Tolerance, then the HMAC in constant time, and decodes the
// payload. It leaves r.Body readable again with the same bytes. Errors
// about the signature or timestamp wrap ErrSignature; a body that is
// authentic but not a payload is another error (answer 400).
func (v Verifier) Verify(r *http.Request) (Payload, error) {
	tol := v.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return Payload{}, fmt.Errorf("webhook: read body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > MaxBodyBytes {
		return Payload{}, fmt.Errorf("webhook: body over %d bytes", MaxBodyBytes)
	}
	ts := r.Header.Get(HeaderTimestamp)
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Payload{}, fmt.Errorf("%w: missing or malformed %s", ErrSignature, HeaderTimestamp)
	}
	if d := now().Sub(time.Unix(secs, 0)); d > tol || d < -tol {
		return Payload{}, fmt.Errorf("%w: timestamp %s is %s off the clock (tolerance %s)", ErrSignature, ts, d.Round(time.Second), tol)
	}
	hexSig, ok := strings.CutPrefix(r.Header.Get(HeaderSignature), "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return Payload{}, fmt.Errorf("%w: missing or malformed %s", ErrSignature, HeaderSignature)
	}
	want, _ := hex.DecodeString(Sign(v.Secret, ts, body))
	if !hmac.Equal(got, want) {
		return Payload{}, fmt.Errorf("%w: HMAC mismatch", ErrSignature)
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return Payload{}, fmt.Errorf("webhook: decode payload: %w", err)
	}
	return p, nil
}
