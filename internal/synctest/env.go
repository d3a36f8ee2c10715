package synctest

import (
	"fmt"
	"os"
	"testing"
)

// ServiceURL returns the address of a real test service from the
// environment variable env (deploy/local/services.sh prints them all, e.g.
// SYNC_TEST_POSTGRES_URL, SYNC_TEST_KINESIS_ENDPOINT, SYNC_TEST_NATS_URL).
// When it is unset the test is skipped, or fails under CI=true: CI never
// passes by skipping.
func ServiceURL(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		Unavailable(t, "%s is not set (eval \"$(deploy/local/services.sh)\")", env)
	}
	return v
}

// Unavailable stops a test that needs a service this machine does not
// offer: t.Skip locally, t.Fatal under CI=true.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: CI must provide it)")
	}
	t.Skip(msg)
}
