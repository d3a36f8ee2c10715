//go:build !synctriggerfault

package main

// withFault returns h: fault injection (fault.go) exists only in test
// builds with the tag synctriggerfault.
func withFault(h handler, _ func(string) string) (handler, error) { return h, nil }
