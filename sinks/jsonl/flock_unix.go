//go:build unix

package jsonl

import (
	"os"
	"syscall"
)

// flock takes an exclusive advisory lock on f, waiting for it; closing f
// releases it. Locks of separate opens exclude each other, also within one
// process.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
