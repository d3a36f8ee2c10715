package idtoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// unreachableError is an issuer whose discovery document or keys could not
// be fetched: ExternalServiceException, not the client's fault.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// maxDocBytes bounds a discovery document or key set.
const maxDocBytes = 1 << 20

// remote is one third-party issuer: its key set, found by discovery on
// first use.
type remote struct {
	issuer string
	client *http.Client
	keys   *keySet

	mu      sync.Mutex
	jwksURL string
}

func newRemote(issuer string, client *http.Client, now func() time.Time, minRefetch time.Duration) *remote {
	r := &remote{issuer: issuer, client: client}
	r.keys = &keySet{fetch: r.fetchKeys, algs: signingAlgs, now: now, minRefetch: minRefetch}
	return r
}

// fetchKeys finds the jwks_uri (discovery, once) and fetches the keys.
func (r *remote) fetchKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	r.mu.Lock()
	u := r.jwksURL
	r.mu.Unlock()
	if u == "" {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, r.client), r.issuer)
		if err != nil {
			return nil, &unreachableError{fmt.Errorf("discovery of %s: %w", r.issuer, err)}
		}
		var doc struct {
			JWKSURL string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err != nil || doc.JWKSURL == "" {
			return nil, &unreachableError{fmt.Errorf("discovery of %s: no jwks_uri", r.issuer)}
		}
		u = doc.JWKSURL
		r.mu.Lock()
		r.jwksURL = u
		r.mu.Unlock()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &unreachableError{err}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, &unreachableError{fmt.Errorf("fetch keys of %s: %w", r.issuer, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes))
	if err != nil {
		return nil, &unreachableError{fmt.Errorf("fetch keys of %s: %w", r.issuer, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &unreachableError{fmt.Errorf("fetch keys of %s: %s", r.issuer, resp.Status)}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, &unreachableError{fmt.Errorf("keys of %s: %w", r.issuer, err)}
	}
	keys := set.Keys[:0]
	for _, k := range set.Keys {
		if usable(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, &unreachableError{fmt.Errorf("keys of %s: no public signing key", r.issuer)}
	}
	return keys, nil
}

func isUnreachable(err error) bool {
	var u *unreachableError
	return errors.As(err, &u)
}

// trimScheme is used in messages.
func trimScheme(s string) string {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		return rest
	}
	return s
}
