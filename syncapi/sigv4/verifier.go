// Package sigv4 verifies AWS Signature Version 4 (header-based) requests, the
// way an AWS service front end does (spec A.2). It knows nothing about
// Cognito: callers say which signing service to expect, and get back the
// Principal that their Credentials attached to the access key.
package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures a Verifier.
type Config struct {
	Credentials Credentials      // required
	Regions     []string         // accepted credential-scope regions; required
	MaxSkew     time.Duration    // 0: 15 min, the window AWS quotes for SigV4 (spec A.2 saw 5 min at Cognito Sync)
	Now         func() time.Time // nil: time.Now
}

func (c *Config) setDefaults() {
	if c.MaxSkew == 0 {
		c.MaxSkew = 15 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every missing or invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Credentials == nil {
		errs = append(errs, errors.New("sigv4: Credentials is required"))
	}
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("sigv4: Regions is required"))
	}
	for _, r := range c.Regions {
		if r == "" || strings.Contains(r, "/") {
			errs = append(errs, fmt.Errorf("sigv4: invalid region %q", r))
		}
	}
	if c.MaxSkew < 0 {
		errs = append(errs, errors.New("sigv4: MaxSkew must not be negative"))
	}
	return errors.Join(errs...)
}

// Verifier checks SigV4 Authorization headers. It is safe for concurrent use.
type Verifier struct {
	creds   Credentials
	regions map[string]bool
	skew    time.Duration
	now     func() time.Time
	signers *signerCache
}

// NewVerifier returns a Verifier, or the Config's validation error.
func NewVerifier(c Config) (*Verifier, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{creds: c.Credentials, regions: make(map[string]bool), skew: c.MaxSkew, now: c.Now, signers: newSignerCache(c.Now)}
	for _, r := range c.Regions {
		v.regions[r] = true
	}
	return v, nil
}

// Verify checks r's Authorization header for signing service `service`
// (e.g. "cognito-sync"); body is the complete request body, already read.
// It returns the Principal of the signing Key. It is VerifyHeaders followed
// by VerifyPayload with the body's SHA-256.
//
// Authentication failures are *Error with one of the Code* constants. An error
// from Credentials.Lookup other than ErrUnknownKey is returned wrapped, not as
// *Error: it is an internal failure, not the client's. Verify does not modify r
// and does not read r.Body.
//
// Presigned (query-string) requests are not supported: no Cognito client
// sends them, so they get IncompleteSignatureException.
func (v *Verifier) Verify(r *http.Request, body []byte, service string) (principal any, err error) {
	p, err := v.VerifyHeaders(r, service)
	if err != nil {
		return nil, err
	}
	return p.VerifyPayload(sha256.Sum256(body))
}

// Pending is a request whose headers passed every check that does not need
// its body; VerifyPayload finishes the verification. It belongs to one
// request and is not safe for concurrent use.
type Pending struct {
	v   *Verifier
	r   *http.Request
	a   authorization
	key Key
	t   time.Time
	// declared is the X-Amz-Content-Sha256 header when hasDeclared: the
	// signature over it was then checked by VerifyHeaders already.
	declared    string
	hasDeclared bool
}

// VerifyHeaders checks everything r's headers alone can prove, without
// reading a byte of the body: the Authorization header's syntax, the
// credential scope (service, region, date), the clock skew, that the access
// key exists with the session token it was issued with and has not expired,
// and that every header named in mustSign (lower case, e.g. "x-amz-target")
// is signed. When the client sent X-Amz-Content-Sha256, the signature itself
// is checked too, over that declared hash. So an unknown key, a stale or
// badly scoped signature is refused before anything reads the body, and only
// a holder of a valid key gets a body read at all.
//
// Errors are those of Verify. VerifyHeaders does not modify r and does not
// read r.Body.
func (v *Verifier) VerifyHeaders(r *http.Request, service string, mustSign ...string) (*Pending, error) {
	auths := headerValues(r.Header, "authorization")
	if len(auths) == 0 {
		if q, _ := url.ParseQuery(rawQuery(r)); q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
			return nil, fail(CodeIncompleteSignature, "Query-string (presigned) authentication is not supported; sign the Authorization header.")
		}
		return nil, fail(CodeMissingAuthenticationToken, "Missing Authentication Token")
	}
	if len(auths) > 1 {
		return nil, fail(CodeIncompleteSignature, "Request must contain exactly one Authorization header.")
	}
	a, e := parseAuthorization(auths[0])
	if e != nil {
		return nil, e
	}

	dates := headerValues(r.Header, "x-amz-date")
	if len(dates) != 1 {
		return nil, fail(CodeIncompleteSignature, "Authorization header requires existence of exactly one 'X-Amz-Date' header.")
	}
	amzDate := dates[0]
	t, perr := time.Parse(amzDateLayout, amzDate)
	// Round-tripping rejects forms time.Parse tolerates (e.g. a one-digit
	// hour) that the signer would re-format differently.
	if perr != nil || t.Format(amzDateLayout) != amzDate {
		return nil, fail(CodeIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '"+clip(amzDate)+"'. See http://en.wikipedia.org/wiki/ISO_8601")
	}

	if a.service != service {
		return nil, fail(CodeIncompleteSignature, "Credential should be scoped to correct service: '"+service+"'. ")
	}
	if a.terminator != terminator {
		return nil, fail(CodeIncompleteSignature, "Credential should be scoped with a valid terminator: 'aws4_request', not '"+clip(a.terminator)+"'. ")
	}
	if !a.isSigned("host") {
		return nil, fail(CodeIncompleteSignature, "'Host' must be a signed header.")
	}
	tokens := headerValues(r.Header, "x-amz-security-token")
	if len(tokens) > 0 && !a.isSigned("x-amz-security-token") {
		return nil, fail(CodeIncompleteSignature, "'X-Amz-Security-Token' must be a signed header.")
	}
	for _, name := range mustSign {
		// A header that selects the operation (awsJson's X-Amz-Target) must
		// be covered, or a signature for one operation would run another.
		if !a.isSigned(name) {
			return nil, fail(CodeIncompleteSignature, "'"+http.CanonicalHeaderKey(name)+"' must be a signed header.")
		}
	}
	if !v.regions[a.region] {
		return nil, fail(CodeInvalidSignature, "Credential should be scoped to a valid region, not '"+clip(a.region)+"'. ")
	}
	if a.scopeDate != amzDate[:8] {
		return nil, fail(CodeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			clip(a.scopeDate)+"' != '"+amzDate[:8]+"', from '"+amzDate+"'.")
	}
	if e := v.checkSkew(t); e != nil {
		return nil, e
	}

	key, err := v.creds.Lookup(r.Context(), a.accessKeyID)
	if errors.Is(err, ErrUnknownKey) {
		return nil, fail(CodeUnrecognizedClient, msgUnrecognized)
	}
	if err != nil {
		return nil, fmt.Errorf("sigv4: look up access key: %w", err)
	}
	// A temporary key is only valid with its own token, a long-term key only
	// without one (STS semantics); both answers are the same code so the
	// response does not tell which half was wrong.
	switch {
	case key.SessionToken == "" && len(tokens) > 0,
		key.SessionToken != "" && (len(tokens) != 1 ||
			subtle.ConstantTimeCompare([]byte(tokens[0]), []byte(key.SessionToken)) != 1):
		return nil, fail(CodeUnrecognizedClient, msgUnrecognized)
	}
	if !key.Expires.IsZero() && !v.now().Before(key.Expires) {
		return nil, fail(CodeExpiredToken, msgExpiredToken)
	}

	p := &Pending{v: v, r: r, a: a, key: key, t: t}
	if hs := headerValues(r.Header, "x-amz-content-sha256"); len(hs) > 0 {
		// The header is what the client put in its canonical request, so
		// the signature can be checked now; VerifyPayload then checks that
		// it also describes the body we got (no UNSIGNED-PAYLOAD for this
		// API).
		if len(hs) != 1 {
			return nil, fail(CodeInvalidSignature, msgPayloadMismatch)
		}
		p.declared, p.hasDeclared = hs[0], true
		if !hmacEqual(expectedSignature(v.signers, r, &a, key.Secret, p.declared, t), a.signature) {
			return nil, fail(CodeInvalidSignature, msgMismatch)
		}
	}
	return p, nil
}

// VerifyPayload finishes the verification of the request VerifyHeaders
// checked: sum is the SHA-256 of its whole body as received. It returns the
// Principal of the signing Key, or an *Error (InvalidSignatureException).
func (p *Pending) VerifyPayload(sum [sha256.Size]byte) (principal any, err error) {
	payloadHash := hex.EncodeToString(sum[:])
	if p.hasDeclared {
		if !strings.EqualFold(p.declared, payloadHash) {
			return nil, fail(CodeInvalidSignature, msgPayloadMismatch)
		}
		return p.key.Principal, nil
	}
	want := expectedSignature(p.v.signers, p.r, &p.a, p.key.Secret, payloadHash, p.t)
	if !hmacEqual(want, p.a.signature) {
		return nil, fail(CodeInvalidSignature, msgMismatch)
	}
	return p.key.Principal, nil
}

// checkSkew enforces ±MaxSkew around now, with AWS's wording (spec A.2,
// [ISS-aws-sdk-xamarin#32]).
func (v *Verifier) checkSkew(t time.Time) *Error {
	now := v.now().UTC()
	skew := strconv.FormatInt(int64(v.skew/time.Minute), 10) + " min."
	if v.skew%time.Minute != 0 {
		skew = v.skew.String() + "."
	}
	switch {
	case t.Before(now.Add(-v.skew)):
		return fail(CodeInvalidSignature, "Signature expired: "+t.Format(amzDateLayout)+" is now earlier than "+
			now.Add(-v.skew).Format(amzDateLayout)+" ("+now.Format(amzDateLayout)+" - "+skew+")")
	case t.After(now.Add(v.skew)):
		return fail(CodeInvalidSignature, "Signature not yet current: "+t.Format(amzDateLayout)+" is still later than "+
			now.Add(v.skew).Format(amzDateLayout)+" ("+now.Format(amzDateLayout)+" + "+skew+")")
	}
	return nil
}
