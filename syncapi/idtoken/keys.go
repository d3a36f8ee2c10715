package idtoken

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cognitosync/cognitosync/syncapi"
)

// keepKeys is how many signing keys the store keeps: the current one and
// the previous, so that tokens signed just before a rotation still verify.
const keepKeys = 2

// signer holds syncd's signing keys, read from the store: the newest signs,
// all verify. Safe for concurrent use.
type signer struct {
	store   syncapi.LoginStore
	now     func() time.Time
	refresh time.Duration

	mu     sync.Mutex
	keys   []jose.JSONWebKey // private keys, newest first
	loaded time.Time
}

// newKey generates an RSA 2048 key (RS256, as the JWKS says) as a
// syncapi.SigningKey.
func newKey(now time.Time) (syncapi.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return syncapi.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return syncapi.SigningKey{}, err
	}
	id := make([]byte, 8)
	rand.Read(id)
	return syncapi.SigningKey{
		ID:      hex.EncodeToString(id),
		PEM:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Created: now,
	}, nil
}

func decodeKey(k syncapi.SigningKey) (jose.JSONWebKey, error) {
	b, _ := pem.Decode([]byte(k.PEM))
	if b == nil {
		return jose.JSONWebKey{}, fmt.Errorf("signing key %s: no PEM block", k.ID)
	}
	priv, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return jose.JSONWebKey{}, fmt.Errorf("signing key %s: %T is not an RSA key", k.ID, priv)
	}
	return jose.JSONWebKey{Key: rk, KeyID: k.ID, Algorithm: string(jose.RS256), Use: "sig"}, nil
}

// load reads the keys from the store, creating the first on first start.
func (s *signer) load(ctx context.Context) ([]jose.JSONWebKey, error) {
	stored, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	if len(stored) == 0 {
		k, err := newKey(s.now())
		if err != nil {
			return nil, err
		}
		// Replicas starting together: the store keeps the first insert.
		if err := s.store.AddSigningKey(ctx, k, keepKeys, true); err != nil {
			return nil, fmt.Errorf("store signing key: %w", err)
		}
		if stored, err = s.store.SigningKeys(ctx); err != nil {
			return nil, fmt.Errorf("read signing keys: %w", err)
		}
		if len(stored) == 0 {
			return nil, errors.New("no signing key after creating one")
		}
	}
	keys := make([]jose.JSONWebKey, 0, len(stored))
	for _, k := range stored {
		jk, err := decodeKey(k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, jk)
	}
	s.mu.Lock()
	s.keys, s.loaded = keys, s.now()
	s.mu.Unlock()
	return keys, nil
}

// current returns the keys, read again from the store when older than the
// refresh interval (another replica may have rotated) or when force is set
// and the last read is at least a second old.
func (s *signer) current(ctx context.Context, force bool) ([]jose.JSONWebKey, error) {
	s.mu.Lock()
	keys, age := s.keys, s.now().Sub(s.loaded)
	s.mu.Unlock()
	if keys != nil && age < s.refresh && (!force || age < time.Second) {
		return keys, nil
	}
	fresh, err := s.load(ctx)
	if err != nil && keys != nil {
		return keys, nil // keep signing with what we have
	}
	return fresh, err
}

// rotate adds a new signing key; the previous one keeps verifying.
func (s *signer) rotate(ctx context.Context) (string, error) {
	k, err := newKey(s.now())
	if err != nil {
		return "", err
	}
	if err := s.store.AddSigningKey(ctx, k, keepKeys, false); err != nil {
		return "", fmt.Errorf("store signing key: %w", err)
	}
	if _, err := s.load(ctx); err != nil {
		return "", err
	}
	return k.ID, nil
}

// publicKeys returns the verification half of the keys, as a key set.
func publicKeys(keys []jose.JSONWebKey) jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Public())
	}
	return set
}

// RotateKey adds a new signing key to the store, for `syncd
// rotate-signing-key`: running replicas sign with it within their
// Config.KeyRefresh, and the previous key keeps verifying until the next
// rotation. It returns the new key id.
func RotateKey(ctx context.Context, store syncapi.LoginStore, now time.Time) (string, error) {
	s := &signer{store: store, now: func() time.Time { return now }}
	return s.rotate(ctx)
}
