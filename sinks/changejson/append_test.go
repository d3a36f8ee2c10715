package changejson

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline"
)

// encodeStd is what encoding/json writes for j.
func encodeStd(t testing.TB, j Change, escapeHTML bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(j); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

var appendCases = []string{"", "plain", `quote"back\\slash`, "tab\tnew\nline\r\x00\x1f\x7f", "<html>&amp;", "é ü 日本", "\u2028\u2029", "bad\xff\xfeutf8", "emoji 😀"}

// TestAppendJSON_SameBytesAsEncodingJSON: AppendJSON and canonical write
// what encoding/json writes, for strings that need every kind of escape.
func TestAppendJSON_SameBytesAsEncodingJSON(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC)
	for _, s := range appendCases {
		v := s + "v"
		for _, c := range []pipeline.Change{
			{IdentityPoolID: "us-east-1:" + s, IdentityID: s, DatasetName: s, Key: s, Value: &v, Op: pipeline.OpReplace, SyncCount: 7,
				LastModified: t0, DeviceLastModified: t0.Add(-time.Millisecond), DatasetSyncCount: 9},
			{IdentityPoolID: s, IdentityID: s, DatasetName: s, Key: s, Op: pipeline.OpRemove, SyncCount: -1},
			pipeline.DatasetDeletion(s, s, s, 12, t0),
		} {
			j := From(c)
			for _, html := range []bool{true, false} {
				got, ok := j.AppendJSON(nil, html)
				if want := encodeStd(t, j, html); !ok || !bytes.Equal(got, want) {
					t.Errorf("AppendJSON(%q, html=%v) =\n%s\nwant\n%s", s, html, got, want)
				}
			}
			want, _ := json.Marshal([]any{c.IdentityPoolID, c.IdentityID, c.DatasetName, c.Key, c.SyncCount})
			if got := canonical(c.ID()); !bytes.Equal(got, want) {
				t.Errorf("canonical(%q) = %s, want %s", s, got, want)
			}
		}
	}
	far := time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := From(pipeline.Change{LastModified: far}).AppendJSON(nil, false); ok {
		t.Error("AppendJSON took a year encoding/json refuses")
	}
}

// FuzzAppendJSON: for any strings, AppendJSON writes encoding/json's bytes.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range appendCases {
		f.Add(s, s+"k", int64(3))
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		c := pipeline.Change{IdentityPoolID: a, IdentityID: b, DatasetName: a + b, Key: b, Value: &a, Op: pipeline.Op(b), SyncCount: n,
			LastModified: time.Unix(0, n).UTC(), DatasetSyncCount: n}
		j := From(c)
		for _, html := range []bool{true, false} {
			got, ok := j.AppendJSON(nil, html)
			if !ok {
				continue
			}
			if want := encodeStd(t, j, html); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON(html=%v) =\n%s\nwant\n%s", html, got, want)
			}
		}
		want, _ := json.Marshal([]any{c.IdentityPoolID, c.IdentityID, c.DatasetName, c.Key, c.SyncCount})
		if got := canonical(c.ID()); !bytes.Equal(got, want) {
			t.Fatalf("canonical = %s, want %s", got, want)
		}
	})
}
