package sigv4_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/cognitosync/cognitosync/syncapi/sigv4"
)

// A secret rotated under the same access key id takes effect at once: the
// verifier caches signing keys, and a cache keyed by key id and day alone
// would keep accepting the old secret until midnight.
func TestVerify_RotatedSecret(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		name := "sdk"
		if fallback {
			name = "fallback"
		}
		t.Run(name, func(t *testing.T) {
			if fallback {
				sigv4.ForceFallback(t)
			}
			old := cred{id: "AKIDROTATING", secret: "secret-before-rotation"}
			rotated := cred{id: old.id, secret: "secret-after-rotation"}
			var current atomic.Pointer[string]
			current.Store(&old.secret)
			v, err := sigv4.NewVerifier(sigv4.Config{Regions: []string{region}, Now: fixedClock,
				Credentials: credsFunc(func(_ context.Context, id string) (sigv4.Key, error) {
					if id != old.id {
						return sigv4.Key{}, sigv4.ErrUnknownKey
					}
					return sigv4.Key{Secret: *current.Load(), Principal: "developer"}, nil
				})})
			if err != nil {
				t.Fatal(err)
			}
			srv, results := newServer(t, v)
			verify := func(c cred) error {
				t.Helper()
				req, body := listRecords.build(t, srv.URL)
				signV2(t, req, body, c, service, region, now)
				return roundTrip(t, srv, results, req).err
			}

			if err := verify(old); err != nil {
				t.Fatalf("before rotation, old secret: %v", err)
			}
			if code := codeOf(verify(rotated)); code != sigv4.CodeInvalidSignature {
				t.Fatalf("before rotation, new secret: %q, want %s", code, sigv4.CodeInvalidSignature)
			}
			current.Store(&rotated.secret)
			if code := codeOf(verify(old)); code != sigv4.CodeInvalidSignature {
				t.Errorf("after rotation, old secret: %q, want %s", code, sigv4.CodeInvalidSignature)
			}
			if err := verify(rotated); err != nil {
				t.Errorf("after rotation, new secret: %v", err)
			}
		})
	}
}
