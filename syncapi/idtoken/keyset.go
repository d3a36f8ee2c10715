package idtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// signingAlgs is the allowlist of token algorithms: asymmetric only. "none"
// and the HMAC algorithms are refused before any key is looked at, so a
// public key can never serve as an HMAC secret.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

func algNames(algs []jose.SignatureAlgorithm) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}

// errUnknownKey is a token signed by a key the issuer does not publish.
var errUnknownKey = errors.New("the token's signing key is not among the issuer's keys")

// keySet is an oidc.KeySet over keys fetched by fetch: cached, fetched
// again when a token names a key id it does not hold, at most once per
// minRefetch. Safe for concurrent use.
type keySet struct {
	fetch      func(ctx context.Context) ([]jose.JSONWebKey, error)
	algs       []jose.SignatureAlgorithm
	now        func() time.Time
	minRefetch time.Duration

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	tried   time.Time // last fetch attempt; zero: never
	loading chan struct{}
	err     error
}

// fetchFailure lets verify learn that a key fetch failed: go-oidc reports
// key set errors as text only.
type fetchFailure struct{ err error }

type fetchFailureKey struct{}

// noteFetchFailure records err in ctx's fetchFailure, if any.
func noteFetchFailure(ctx context.Context, err error) error {
	if f, ok := ctx.Value(fetchFailureKey{}).(*fetchFailure); ok && isUnreachable(err) {
		f.err = err
	}
	return err
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := k.verifySignature(ctx, raw)
	return payload, noteFetchFailure(ctx, err)
}

func (k *keySet) verifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("malformed token: want one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	if payload, found, err := verifyWith(jws, keys, kid); found {
		return payload, err
	}
	keys, err = k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	payload, found, err := verifyWith(jws, keys, kid)
	if !found {
		return nil, errUnknownKey
	}
	return payload, err
}

// verifyWith verifies jws with the public keys of id kid (all when kid is
// ""); found is false when there is none.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, found bool, err error) {
	err = errUnknownKey
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if !usable(key) {
			continue
		}
		found = true
		if payload, err = jws.Verify(key.Key); err == nil {
			return payload, true, nil
		}
	}
	if found {
		err = errors.New("invalid token signature")
	}
	return nil, found, err
}

// usable reports a public signature key of a supported type.
func usable(key jose.JSONWebKey) bool {
	if key.Use != "" && key.Use != "sig" {
		return false
	}
	switch key.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	}
	return false
}

// current returns the cached keys, fetching them on first use.
func (k *keySet) current(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	if keys != nil {
		return keys, nil
	}
	return k.refresh(ctx)
}

// refresh fetches the keys unless a fetch happened within minRefetch;
// concurrent callers share one fetch.
func (k *keySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	if ch := k.loading; ch != nil {
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.keys, k.err
	}
	now := k.now()
	if !k.tried.IsZero() && now.Sub(k.tried) < k.minRefetch {
		// Rate-limited: what the last fetch left (a failed fetch too).
		keys, err := k.keys, k.err
		k.mu.Unlock()
		if keys != nil {
			err = nil
		}
		return keys, err
	}
	k.tried = now
	ch := make(chan struct{})
	k.loading = ch
	k.mu.Unlock()

	keys, err := k.fetch(ctx)

	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		k.keys = keys
	}
	k.err = err
	k.loading = nil
	close(ch)
	if err != nil && k.keys != nil {
		return k.keys, nil // keep serving the keys we have
	}
	return k.keys, err
}
