package syncapi_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

func TestTime_UnmarshalForms(t *testing.T) {
	want := time.UnixMilli(1412974057151).UTC()
	for _, in := range []string{"1412974057.151", "1.412974057151E9", "1.412974057151e+9", "1412974057.1510"} {
		var tm syncapi.Time
		if err := json.Unmarshal([]byte(in), &tm); err != nil || !tm.Equal(want) {
			t.Errorf("%s: got %v, %v; want %v", in, tm.Time, err, want)
		}
	}
	var tm syncapi.Time
	if err := json.Unmarshal([]byte("1424801824"), &tm); err != nil || tm.Unix() != 1424801824 {
		t.Errorf("integer seconds: %v %v", tm.Time, err)
	}
	for _, bad := range []string{`"1412974057"`, `"2015-02-24T18:17:00Z"`, `true`, `{}`, `[1]`, `1e300`} {
		var tm syncapi.Time
		err := json.Unmarshal([]byte(bad), &tm)
		var se *syncapi.SerializationError
		if !errors.As(err, &se) {
			t.Errorf("%s: want *SerializationError, got %v", bad, err)
		}
	}
}

func TestTime_MarshalEpochSeconds(t *testing.T) {
	for ms, want := range map[int64]string{1412974057151: "1412974057.151", 1412974057000: "1412974057", 1412974057100: "1412974057.1", -1500: "-1.5"} {
		b, err := json.Marshal(syncapi.TimeFromMillis(ms))
		if err != nil || string(b) != want {
			t.Errorf("%d ms: got %s, %v; want %s", ms, b, err, want)
		}
	}
}
