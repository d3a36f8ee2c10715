package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/cognitosync/cognitosync/internal/ttlcache"
)

// expectedSignature computes the signature the client should have sent. It
// rebuilds the request from exactly the parts SigV4 covers and has
// aws-sdk-go-v2's signer sign it, so canonicalisation is the SDK's.
//
// How the v2 signer (v1.48) picks headers, and how the rebuilt request copes:
//
//   - host is always signed, from Request.Host; SanitizeHostForHeader strips
//     a default port only when URL.Scheme is http(s), so Scheme stays empty
//     and the Host is signed as received.
//   - content-length is signed only when Request.ContentLength > 0, from that
//     field; a Content-Length header in the map is skipped (case-insensitive).
//     So a client-signed "content-length:0" (or a non-canonical number) cannot
//     be reproduced.
//   - X-Amz-Date is always set and signed from the signing time; X-Amz-Security-
//     Token is added when the credentials carry one (ours never do: the
//     client's header is copied like any other signed header).
//   - IgnoredHeaders (Authorization, User-Agent, X-Amzn-Trace-Id, Expect,
//     Transfer-Encoding) are matched against the header map's keys
//     case-sensitively, in canonical form. Clients with shorter ignore lists
//     (aws-sdk-go v1 signs Expect and Transfer-Encoding; aws-sdk-java v1, as
//     far as we know, ignores only connection and x-amzn-trace-id, so it
//     signs user-agent) are reproduced by keying the rebuilt map in lower
//     case, which the signer then does not recognise as ignored; it
//     lower-cases names anyway.
//
// Whatever the signer does, its SignedHeaders must equal the client's, and we
// check that rather than trust the list above: if they differ (a client
// signed content-length:0 or left x-amz-date unsigned, or a future SDK
// matches IgnoredHeaders case-insensitively), fallbackSignature computes the
// canonical request by hand for that request only.
func expectedSignature(signers *signerCache, r *http.Request, a *authorization, secret, payloadHash string, t time.Time) string {
	path, query := wirePathQuery(r)
	host := requestHost(r)

	req := &http.Request{
		Method: r.Method,
		// The signer escapes GetURIPath(URL) once more (non-S3 services), so
		// it must see the path exactly as sent: %3A becomes %253A in the
		// canonical URI, as the client's signer did (spec A.2). Opaque is the
		// only URL field the signer takes verbatim; it wants "//host/path".
		URL:    &url.URL{Opaque: "//h" + path, RawQuery: query},
		Host:   host,
		Header: make(http.Header, len(a.signed)),
	}
	reproducible := true
	for _, name := range a.signed {
		switch name {
		case "host", "x-amz-date": // the signer adds these itself
		case "content-length":
			vs := contentLength(r)
			n, err := strconv.ParseInt(firstOrEmpty(vs), 10, 64)
			if len(vs) != 1 || err != nil || n <= 0 || strconv.FormatInt(n, 10) != vs[0] {
				reproducible = false
			}
			req.ContentLength = n
		default:
			vs := headerValues(r.Header, name)
			if vs == nil {
				vs = []string{} // signed but absent: the key still has to be there
			}
			req.Header[name] = vs // lower-case key, see above
		}
	}
	if reproducible && !testHooks.force.Load() {
		creds := aws.Credentials{AccessKeyID: a.accessKeyID, SecretAccessKey: secret}
		err := signers.get(a.accessKeyID, secret).SignHTTP(context.Background(), creds, req, payloadHash, a.service, a.region, t)
		if err == nil {
			signed, sig := splitAuthorization(req.Header.Get("Authorization"))
			if signed == a.signedHeaders {
				return sig
			}
		}
	}
	if f := testHooks.fallback.Load(); f != nil {
		(*f)()
	}
	return fallbackSignature(r, a, secret, payloadHash, t, path, query, host)
}

// signerCache holds one v4.Signer per (access key id, secret), so that the
// signer's derived-key cache saves the four HMACs of the signing key and the
// signer's allocation on every request but the first of a key, region and day.
//
// The key includes a hash of the secret because the signer's own cache is
// keyed by access key id, region, service and day, not by secret: a signer
// shared across secrets would keep accepting the old secret after a rotation
// under the same key id. A rotated secret gets a new signer; the old one ages
// out. It is safe for concurrent use.
type signerCache struct {
	c *ttlcache.Cache[[sha256.Size]byte, *v4.Signer]
}

// Temporary credentials bring a new key id per session, so the cache is
// bounded in size, and its signers expire: what it holds depends on the
// sessions active within signerTTL, not on all ever seen.
const (
	maxSigners = 4096
	signerTTL  = time.Hour
)

func newSignerCache(now func() time.Time) *signerCache {
	return &signerCache{c: ttlcache.New[[sha256.Size]byte, *v4.Signer](ttlcache.Config{Size: maxSigners, TTL: signerTTL, Now: now})}
}

// get returns the signer for the key id and secret, creating it if needed.
func (c *signerCache) get(accessKeyID, secret string) *v4.Signer {
	h := sha256.New()
	h.Write([]byte(accessKeyID))
	// Only the secret is needed for correctness (the signer's cache checks
	// the key id itself); the key id keeps keys that share a secret from
	// evicting each other's derived key.
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var k [sha256.Size]byte
	h.Sum(k[:0])

	if s, ok := c.c.Get(k); ok {
		return s
	}
	// Two requests of a new key may both create a signer; either works.
	s := v4.NewSigner()
	c.c.Add(k, s)
	return s
}

// testHooks let tests observe and force the fallback path.
var testHooks struct {
	fallback atomic.Pointer[func()]
	force    atomic.Bool
}

// splitAuthorization returns SignedHeaders and Signature from the header the
// v2 signer writes: "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
func splitAuthorization(h string) (signed, sig string) {
	_, rest, _ := strings.Cut(h, "SignedHeaders=")
	signed, sig, _ = strings.Cut(rest, ", Signature=")
	return signed, sig
}

// fallbackSignature is the SigV4 algorithm for the header lists the v2 signer
// cannot produce (see expectedSignature). It canonicalises exactly like the
// signer: same path escaping (httpbinding.EscapePath), query encoding
// (encode, then sort) and header value trimming.
func fallbackSignature(r *http.Request, a *authorization, secret, payloadHash string, t time.Time, path, query, host string) string {
	var c strings.Builder
	c.WriteString(r.Method)
	c.WriteByte('\n')
	c.WriteString(httpbinding.EscapePath(path, false))
	c.WriteByte('\n')
	c.WriteString(canonicalQuery(query))
	c.WriteByte('\n')
	for _, name := range a.signed {
		var vs []string
		switch name {
		case "host":
			vs = []string{host}
		case "content-length":
			vs = contentLength(r)
		default:
			vs = headerValues(r.Header, name)
		}
		c.WriteString(name)
		c.WriteByte(':')
		for i, v := range vs {
			if i > 0 {
				c.WriteByte(',')
			}
			c.WriteString(strings.TrimSpace(collapseSpaces(v)))
		}
		c.WriteByte('\n')
	}
	c.WriteByte('\n')
	c.WriteString(a.signedHeaders)
	c.WriteByte('\n')
	c.WriteString(payloadHash)

	sum := sha256.Sum256([]byte(c.String()))
	toSign := algorithm + "\n" + t.UTC().Format(amzDateLayout) + "\n" + a.scope() + "\n" + hex.EncodeToString(sum[:])

	k := hmacSHA256([]byte("AWS4"+secret), a.scopeDate)
	k = hmacSHA256(k, a.region)
	k = hmacSHA256(k, a.service)
	k = hmacSHA256(k, terminator)
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// canonicalQuery encodes names and values (RFC 3986, space as %20), then
// sorts, as SigV4 and the v2 signer's EncodeQuery do. Unparseable pairs are
// dropped, as url.URL.Query drops them for the signer.
func canonicalQuery(raw string) string {
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		ek := strings.ReplaceAll(url.QueryEscape(k), "+", "%20")
		for _, v := range vs {
			pairs = append(pairs, ek+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		ki, vi, _ := strings.Cut(pairs[i], "=")
		kj, vj, _ := strings.Cut(pairs[j], "=")
		if ki != kj {
			return ki < kj
		}
		return vi < vj
	})
	return strings.Join(pairs, "&")
}

// collapseSpaces turns runs of spaces into one space ("trimall" in SigV4).
func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	prev := false
	for i := 0; i < len(s); i++ {
		sp := s[i] == ' '
		if !(sp && prev) {
			b.WriteByte(s[i])
		}
		prev = sp
	}
	return b.String()
}

// wirePathQuery returns the path and query exactly as they were on the
// request line: r.RequestURI, not the decoded r.URL.Path (spec A.2).
func wirePathQuery(r *http.Request) (path, query string) {
	uri := r.RequestURI
	if uri == "" { // a request built in-process, not read from the wire
		path, query = r.URL.EscapedPath(), r.URL.RawQuery
	} else {
		path, query, _ = strings.Cut(uri, "?")
		if i := strings.Index(path, "://"); i > 0 && !strings.HasPrefix(path, "/") {
			// absolute-form request target: drop scheme and authority.
			path = path[i+3:]
			if j := strings.IndexByte(path, '/'); j >= 0 {
				path = path[j:]
			} else {
				path = ""
			}
		}
	}
	if !strings.HasPrefix(path, "/") {
		// What the signer's GetURIPath makes of an empty path; anything else
		// ("*") cannot have been signed by an SDK and will not verify.
		path = "/" + path
	}
	return path, query
}

func rawQuery(r *http.Request) string {
	_, q := wirePathQuery(r)
	return q
}

func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host // net/http moves the Host header here
	}
	return r.URL.Host
}

// contentLength returns the Content-Length values as received; net/http keeps
// the header on server requests, r.ContentLength covers in-process ones.
func contentLength(r *http.Request) []string {
	if vs := headerValues(r.Header, "content-length"); vs != nil {
		return vs
	}
	if r.ContentLength > 0 {
		return []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	return nil
}

// headerValues returns every value of the header named (in lower case) name,
// whatever the case of the map keys (net/http canonicalises them, hand-built
// requests may not). nil when absent.
func headerValues(h http.Header, name string) []string {
	var out []string
	for k, vs := range h {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	return out
}

func firstOrEmpty(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
