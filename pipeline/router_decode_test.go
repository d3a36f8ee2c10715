package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cognitosync/cognitosync/pipeline"
)

// FuzzStreamRecordDecoder: whatever the payload, the decoder either fails
// or returns changes a sink can address: pool, identity and dataset set, a
// key on every record change, and a dataset deletion only alone, without a
// key or value.
func FuzzStreamRecordDecoder(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("streamrecord", "testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"identityPoolId":"p","identityId":"i","dataSetName":"d","operation":"remove","kinesisSyncRecords":[],"syncCount":3}`))
	decode := pipeline.StreamRecordDecoder(nil)
	f.Fuzz(func(t *testing.T, payload []byte) {
		changes, err := decode(context.Background(), payload)
		if err != nil {
			return
		}
		for _, c := range changes {
			if c.IdentityPoolID == "" || c.IdentityID == "" || c.DatasetName == "" {
				t.Fatalf("change without pool, identity or dataset: %+v", c)
			}
			if c.DatasetDeleted {
				if len(changes) != 1 || c.Key != "" || c.Value != nil || c.Op != pipeline.OpRemove {
					t.Fatalf("dataset deletion %+v among %d changes", c, len(changes))
				}
				continue
			}
			if c.Key == "" || (c.Op == pipeline.OpRemove && c.Value != nil) {
				t.Fatalf("record change %+v", c)
			}
		}
	})
}
