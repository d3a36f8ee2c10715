package syncapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/syncapi"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"ascii", "highScore", true},
		{"1024 characters", strings.Repeat("k", 1024), true},
		{"1025 characters", strings.Repeat("k", 1025), false},
		{"2048 bytes", strings.Repeat("é", 1024), true},
		{"2049 bytes", "x" + strings.Repeat("é", 1024), false},
		{"1024 characters, 4096 bytes", strings.Repeat("😀", 1024), false},
		{"empty", "", false},
		{"NUL", "a\x00", false},
		{"invalid UTF-8", "a\xff", false},
		{"encoded surrogate", "\xed\xb0\x80", false},
		{"controls other than NUL", "a\x01\x1f\x7f", true},
	}
	for _, tc := range tests {
		err := syncapi.ValidateKey("Key", tc.key)
		var ve *syncapi.ValidationError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ve)) {
			t.Errorf("%s: ValidateKey = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestValidateValue(t *testing.T) {
	for _, tc := range []struct {
		name, v string
		ok      bool
	}{
		{"empty", "", true},
		{"max characters", strings.Repeat("é", syncapi.MaxValueLen), true},
		{"one too many", strings.Repeat("v", syncapi.MaxValueLen+1), false},
		{"NUL", "\x00", false},
		{"overlong", "\xc0\x80", false},
	} {
		if err := syncapi.ValidateValue("Value", tc.v); tc.ok != (err == nil) {
			t.Errorf("%s: ValidateValue = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestExpectMatches(t *testing.T) {
	for _, tc := range []struct {
		expect, stored int64
		found          bool
		purgedAt       int64
		want           bool
	}{
		{5, 5, true, 0, true},
		{4, 5, true, 9, false}, // a row: only its own count
		{0, 0, false, 0, true},
		{3, 0, false, 0, false}, // an unknown key with a count
		{3, 0, false, 3, true},  // a purged tombstone's count
		{4, 0, false, 3, false},
		{-1, 0, false, 3, false},
	} {
		if got := syncapi.ExpectMatches(tc.expect, tc.stored, tc.found, tc.purgedAt); got != tc.want {
			t.Errorf("ExpectMatches(%d, %d, %v, %d) = %v", tc.expect, tc.stored, tc.found, tc.purgedAt, got)
		}
	}
}
