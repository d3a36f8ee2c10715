package jsonl_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
)

func TestSpec_Build(t *testing.T) {
	dir := t.TempDir()
	s := jsonl.Spec{Dir: dir, Prefix: "audit"}
	if err := s.Validate(pipeline.SinkDeps{Name: "files"}); err != nil {
		t.Fatal(err)
	}
	sink, err := s.Build(context.Background(), pipeline.SinkDeps{Name: "files"})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	batch := []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1)}
	if err := sink.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if sink.Name() != "files" {
		t.Errorf("Name() = %q, want files", sink.Name())
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl")); len(files) != 1 {
		t.Errorf("files with prefix audit: %v, want one", files)
	}
	sinktest.Equal(t, sinktest.Fold(readAll(t, dir)), sinktest.Fold(batch))

	if err := (jsonl.Spec{Prefix: "a/b"}).Validate(pipeline.SinkDeps{}); err == nil ||
		!strings.Contains(err.Error(), "Dir is required") || !strings.Contains(err.Error(), "plain file name") {
		t.Errorf("Validate of an empty dir and a bad prefix = %v", err)
	}
}
