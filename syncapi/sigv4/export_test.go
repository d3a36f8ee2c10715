package sigv4

import (
	"sync/atomic"
	"testing"
)

// CountFallbacks counts the requests whose signature fallbackSignature
// computed instead of the SDK signer, until tb ends.
func CountFallbacks(tb testing.TB) *atomic.Int64 {
	var n atomic.Int64
	f := func() { n.Add(1) }
	testHooks.fallback.Store(&f)
	tb.Cleanup(func() { testHooks.fallback.Store(nil) })
	return &n
}

// ForceFallback makes every signature come from fallbackSignature until tb ends.
func ForceFallback(tb testing.TB) {
	testHooks.force.Store(true)
	tb.Cleanup(func() { testHooks.force.Store(false) })
}
