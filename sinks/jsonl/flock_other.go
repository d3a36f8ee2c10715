//go:build !unix

package jsonl

import "os"

// flock is a no-op where flock(2) does not exist: writers of one process
// are serialized by the Sink's mutex; sharing a Dir between processes is
// then not deduplicated.
func flock(*os.File) error { return nil }
