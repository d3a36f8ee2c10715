package postgres_test

import (
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/postgres"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
)

// TestSpec_DefaultsToHostDatabase: without url the sink writes to the
// host's database (the worker's --database-url).
func TestSpec_DefaultsToHostDatabase(t *testing.T) {
	url := synctest.PostgresURL(t)
	deps := pipeline.SinkDeps{Name: "db", DatabaseURL: url}
	s := postgres.Spec{ChangeLog: true, TablePrefix: "mirror_"}
	if err := s.Validate(deps); err != nil {
		t.Fatal(err)
	}
	sink, err := s.Build(ctx, deps)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	batch := []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1)}
	if err := sink.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, url)
	sinktest.Equal(t, truncate(state(t, db, "mirror_records")), truncate(sinktest.Fold(batch)))
	if n := count(t, db, "mirror_changes"); n != 1 {
		t.Errorf("change log rows = %d, want 1", n)
	}
}

func TestSpec_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    postgres.Spec
		deps pipeline.SinkDeps
		want string
	}{
		{"OwnURL", postgres.Spec{URL: "postgres://h/db"}, pipeline.SinkDeps{}, ""},
		{"HostURL", postgres.Spec{}, pipeline.SinkDeps{DatabaseURL: "postgres://h/db"}, ""},
		{"NoURL", postgres.Spec{}, pipeline.SinkDeps{}, "url is required when the worker has no --database-url"},
		{"SQLiteHost", postgres.Spec{}, pipeline.SinkDeps{DatabaseURL: "/data/worker.db"}, "URL must be postgres://"},
		{"BadSchema", postgres.Spec{URL: "postgres://h/db", Schema: "a;drop"}, pipeline.SinkDeps{}, "Schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate(tc.deps)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
