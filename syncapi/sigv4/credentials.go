package sigv4

import (
	"context"
	"time"
)

// Credentials resolves an access key id to its secret. Lookup returns
// ErrUnknownKey (wrapped is fine) for an unknown key; any other error is
// returned by Verify unchanged, as an internal failure. Implementations must
// be safe for concurrent use.
type Credentials interface {
	Lookup(ctx context.Context, accessKeyID string) (Key, error)
}

// Key is the secret material behind an access key id.
type Key struct {
	Secret string
	// SessionToken is "" for long-term keys. When set, requests must carry
	// it, signed, in X-Amz-Security-Token; when empty, requests must not
	// carry a token at all.
	SessionToken string
	// Expires is when temporary credentials stop working; zero means never.
	Expires time.Time
	// Principal is returned by Verify untouched.
	Principal any
}

// StaticCredentials is a fixed map from access key id to Key, e.g. the
// developer keys from configuration. It must not be modified once in use.
type StaticCredentials map[string]Key

var _ Credentials = StaticCredentials(nil)

// Lookup returns the key for id, or ErrUnknownKey.
func (s StaticCredentials) Lookup(_ context.Context, id string) (Key, error) {
	k, ok := s[id]
	if !ok {
		return Key{}, ErrUnknownKey
	}
	return k, nil
}
