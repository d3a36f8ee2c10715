package streamrecord_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func str(s string) *string { return &s }

var (
	pool     = "us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861"
	identity = "us-east-1:9643cc0e-90bd-4e20-b701-00ba6ef396a6"
	modified = time.UnixMilli(1424801824343).UTC()
	device   = time.UnixMilli(1424801820500).UTC()
)

// golden compares got with testdata/name (indented JSON), rewriting it
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var ind bytes.Buffer
	if err := json.Indent(&ind, got, "", "  "); err != nil {
		t.Fatalf("indent: %v", err)
	}
	ind.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, ind.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ind.Bytes(), want) {
		t.Errorf("%s:\ngot  %s\nwant %s", name, ind.Bytes(), want)
	}
}

func TestEncode_Golden(t *testing.T) {
	tests := []struct {
		file string
		rec  streamrecord.Record
	}{
		{"inline.json", streamrecord.Record{ // the sample of spec D.2
			IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
			Records: []streamrecord.SyncRecord{{Key: "highScore", Value: str("120"), SyncCount: 8,
				LastModifiedDate: modified, DeviceLastModifiedDate: device, Op: streamrecord.OpReplace}},
			LastModifiedDate: modified, SyncCount: 8,
		}},
		{"mixed.json", streamrecord.Record{ // replace wins over remove; a removed value is dropped
			IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
			Records: []streamrecord.SyncRecord{
				{Key: "gone", Value: str("ignored"), SyncCount: 9, LastModifiedDate: modified, DeviceLastModifiedDate: device, Op: streamrecord.OpRemove},
				{Key: "empty", Value: str(""), SyncCount: 9, LastModifiedDate: modified, DeviceLastModifiedDate: device, Op: streamrecord.OpReplace},
			},
			LastModifiedDate: modified, SyncCount: 9,
		}},
		{"remove.json", streamrecord.Record{
			IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
			Records: []streamrecord.SyncRecord{{Key: "highScore", SyncCount: 10,
				LastModifiedDate: modified, DeviceLastModifiedDate: device, Op: streamrecord.OpRemove}},
			LastModifiedDate: modified, SyncCount: 10,
		}},
		{"deleted.json", streamrecord.Record{ // DeleteDataset: remove, no records
			IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
			Operation: streamrecord.OpRemove, LastModifiedDate: modified, SyncCount: 10,
		}},
		{"s3url.json", streamrecord.Record{
			IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", Operation: streamrecord.OpReplace,
			LastModifiedDate: modified, SyncCount: 9,
			RecordsURL: "https://bucket.s3.amazonaws.com/object?X-Amz-Signature=abc",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := streamrecord.Encode(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, got)
			// Round trip.
			back, err := streamrecord.Decode(got)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.rec
			if want.Operation == "" {
				want.Operation = streamrecord.Operation(want.Records)
			}
			want.PayloadType = streamrecord.PayloadInline
			if want.RecordsURL != "" {
				want.PayloadType = streamrecord.PayloadS3URL
			} else if want.Records == nil {
				want.Records = []streamrecord.SyncRecord{}
			}
			for i := range want.Records {
				if want.Records[i].Op == streamrecord.OpRemove {
					want.Records[i].Value = nil
				}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("round trip:\ngot  %+v\nwant %+v", back, want)
			}
		})
	}
}

func TestDecode_DatasetNameSpellings(t *testing.T) {
	for _, file := range []string{"inline.json", "aws_datasetname.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := streamrecord.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if r.DatasetName != "settings" || r.IdentityID != identity || r.SyncCount != 8 ||
			len(r.Records) != 1 || *r.Records[0].Value != "120" || !r.Records[0].LastModifiedDate.Equal(modified) ||
			!r.Records[0].DeviceLastModifiedDate.Equal(device) || !r.LastModifiedDate.Equal(modified) {
			t.Errorf("%s: decoded %+v", file, r)
		}
	}
}

func TestDecode_FetchesS3Url(t *testing.T) {
	recs := []streamrecord.SyncRecord{{Key: "big", Value: str("v"), SyncCount: 9, LastModifiedDate: modified, DeviceLastModifiedDate: device, Op: streamrecord.OpReplace}}
	body, err := streamrecord.EncodeRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("X-Amz-Signature") != "abc" {
			http.Error(w, "AccessDenied", http.StatusForbidden)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	data, err := streamrecord.Encode(streamrecord.Record{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
		Operation: streamrecord.OpReplace, SyncCount: 9, LastModifiedDate: modified, RecordsURL: srv.URL + "/o?X-Amz-Signature=abc"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := streamrecord.Decoder{Getter: srv.Client()}.Decode(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	if r.PayloadType != streamrecord.PayloadS3URL || !reflect.DeepEqual(r.Records, recs) {
		t.Errorf("decoded %+v", r)
	}
	bad, _ := streamrecord.Encode(streamrecord.Record{IdentityID: identity, RecordsURL: srv.URL + "/o?X-Amz-Signature=wrong"})
	if _, err := (streamrecord.Decoder{Getter: srv.Client()}).Decode(t.Context(), bad); err == nil {
		t.Error("a 403 from the URL decoded without error")
	}
}

func TestDecode_Invalid(t *testing.T) {
	if _, err := streamrecord.Decode([]byte(`{"kinesisSyncRecords": 3}`)); err == nil {
		t.Error("no error")
	}
	if _, err := streamrecord.Encode(streamrecord.Record{PayloadType: streamrecord.PayloadS3URL}); err == nil {
		t.Error("S3Url without URL encoded")
	}
}
