package syncapi

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// Time is a timestamp as the Cognito Sync and Cognito Identity APIs carry it: a
// JSON number of epoch seconds with up to millisecond precision (spec A.3, A.4).
// The zero Time is omitted by `omitzero` members.
type Time struct{ time.Time }

// NewTime truncates t to the millisecond, the precision the wire keeps.
func NewTime(t time.Time) Time { return Time{t.Truncate(time.Millisecond).UTC()} }

// TimeFromMillis converts epoch milliseconds.
func TimeFromMillis(ms int64) Time { return Time{time.UnixMilli(ms).UTC()} }

// MarshalJSON writes epoch seconds as a plain decimal, e.g. 1424801824.343.
func (t Time) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	var b []byte
	if ms < 0 {
		b, ms = append(b, '-'), -ms
	}
	sec, frac := ms/1000, ms%1000
	b = strconv.AppendInt(b, sec, 10)
	if frac != 0 {
		f := strconv.FormatInt(1000+frac, 10)[1:] // zero-padded 3 digits
		f = string(bytes.TrimRight([]byte(f), "0"))
		b = append(append(b, '.'), f...)
	}
	return b, nil
}

// UnmarshalJSON accepts integers, decimals and exponent forms
// (1.412974057151E9). A JSON string is a *SerializationError, as AWS answers
// (spec A.3, [ISS-aws-sdk-php#373]).
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return &SerializationError{Reason: "class java.lang.String can not be converted to milliseconds since epoch"}
	}
	// A JSON number is all strconv.ParseFloat needs; anything else (objects,
	// arrays, booleans) fails there.
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || !isJSONNumber(b) {
		return &SerializationError{Reason: "timestamp must be a number of epoch seconds"}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e14 {
		return &SerializationError{Reason: "timestamp out of range: " + string(b)}
	}
	*t = TimeFromMillis(int64(math.Round(f * 1000)))
	return nil
}

// isJSONNumber reports whether b is a JSON number literal (ParseFloat also
// accepts forms JSON does not, such as "Inf", "0x1p3" or "1_000").
func isJSONNumber(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return len(b) > 0
}
