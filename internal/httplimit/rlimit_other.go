//go:build !unix

package httplimit

// openFileLimit is unknown outside Unix.
func openFileLimit() (uint64, bool) { return 0, false }
