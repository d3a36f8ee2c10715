//go:build unix

package httplimit

import "syscall"

// openFileLimit returns the soft RLIMIT_NOFILE (which the Go runtime raises
// to the hard limit at start-up on Linux).
func openFileLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return uint64(l.Cur), true
}
