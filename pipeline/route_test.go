package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline"
)

func change(pool, id, ds, key string, op pipeline.Op) pipeline.Change {
	return pipeline.Change{IdentityPoolID: pool, IdentityID: id, DatasetName: ds, Key: key, Op: op, SyncCount: 1}
}

func TestRoute_Match(t *testing.T) {
	const pool, other = "us-east-1:00000000-0000-4000-8000-000000000001", "eu-west-1:00000000-0000-4000-8000-000000000002"
	c := change(pool, "us-east-1:abc", "settings", "theme", pipeline.OpReplace)
	del := pipeline.DatasetDeletion(pool, "us-east-1:abc", "settings", 7, time.Time{})
	for _, tc := range []struct {
		name  string
		route pipeline.Route
		c     pipeline.Change
		want  bool
	}{
		{"empty route matches everything", pipeline.Route{}, c, true},
		{"pool glob", pipeline.Route{Pools: []string{"us-east-1:*"}}, c, true},
		{"pool glob other region", pipeline.Route{Pools: []string{"us-east-1:*"}}, change(other, "x", "settings", "k", pipeline.OpReplace), false},
		{"one of several pools", pipeline.Route{Pools: []string{other, pool}}, c, true},
		{"identity", pipeline.Route{Identities: []string{"*:abc"}}, c, true},
		{"identity mismatch", pipeline.Route{Identities: []string{"*:abd"}}, c, false},
		{"dataset", pipeline.Route{Datasets: []string{"settings", "profile"}}, c, true},
		{"dataset mismatch", pipeline.Route{Datasets: []string{"profile"}}, c, false},
		{"key prefix", pipeline.Route{Keys: []string{"the*"}}, c, true},
		{"key mismatch", pipeline.Route{Keys: []string{"score.*"}}, c, false},
		{"key class", pipeline.Route{Keys: []string{"[st]heme"}}, c, true},
		{"key negated class", pipeline.Route{Keys: []string{"[^t]heme"}}, c, false},
		{"op replace", pipeline.Route{Ops: []pipeline.Op{pipeline.OpReplace}}, c, true},
		{"op remove only", pipeline.Route{Ops: []pipeline.Op{pipeline.OpRemove}}, c, false},
		{"op remove matches remove", pipeline.Route{Ops: []pipeline.Op{pipeline.OpRemove}}, change(pool, "i", "d", "k", pipeline.OpRemove), true},
		{"all lists must match", pipeline.Route{Pools: []string{pool}, Datasets: []string{"settings"}, Keys: []string{"nope"}}, c, false},
		// A dataset deletion removes every key: key patterns do not filter it
		// out, ops do (it is a remove), the dataset lists do.
		{"deletion matches any key list", pipeline.Route{Keys: []string{"score.*"}}, del, true},
		{"deletion is a remove", pipeline.Route{Ops: []pipeline.Op{pipeline.OpRemove}}, del, true},
		{"deletion is not a replace", pipeline.Route{Ops: []pipeline.Op{pipeline.OpReplace}}, del, false},
		{"deletion of another dataset", pipeline.Route{Datasets: []string{"profile"}, Keys: []string{"*"}}, del, false},
		{"deletion of the dataset", pipeline.Route{Pools: []string{"us-east-1:*"}, Datasets: []string{"sett*"}}, del, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.route.Match(tc.c); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRoute_Filter(t *testing.T) {
	r := pipeline.Route{Keys: []string{"a*"}}
	batch := []pipeline.Change{change("p", "i", "d", "a1", pipeline.OpReplace), change("p", "i", "d", "b", pipeline.OpReplace), change("p", "i", "d", "a2", pipeline.OpRemove)}
	got := r.Filter(batch)
	if len(got) != 2 || got[0].Key != "a1" || got[1].Key != "a2" {
		t.Fatalf("Filter = %+v", got)
	}
	if r.Filter(batch[1:2]) != nil {
		t.Fatal("want nil when nothing matches")
	}
}

func TestParseRoutes(t *testing.T) {
	yml := `
routes:
  - name: settings-to-db
    pools: ["us-east-1:*"]
    datasets: [settings]
    keys: ["theme", "score.*"]
    ops: [replace]
    sinks: [db, files]
  - name: everything
    sinks: [files]
`
	tab, err := pipeline.ParseRoutes([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Routes) != 2 || tab.Routes[0].Ops[0] != pipeline.OpReplace || tab.Routes[0].Sinks[1] != "files" || tab.Routes[1].Pools != nil {
		t.Fatalf("routes = %+v", tab.Routes)
	}
	js := `{"routes":[{"name":"all","sinks":["files"]}]}`
	if _, err := pipeline.ParseRoutes([]byte(js)); err != nil {
		t.Fatalf("JSON: %v", err)
	}
}

func TestParseRoutes_Invalid(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown field":  {"routes:\n  - name: a\n    dataset: [x]\n    sinks: [s]\n", "field dataset not found"},
		"no sinks":       {"routes:\n  - name: a\n", "needs at least one sink"},
		"bad op":         {"routes:\n  - name: a\n    ops: [delete]\n    sinks: [s]\n", `op "delete"`},
		"duplicate name": {"routes:\n  - name: a\n    sinks: [s]\n  - name: a\n    sinks: [s]\n", "defined twice"},
		"bad name":       {"routes:\n  - name: 'a b'\n    sinks: [s]\n", "name must be"},
		"empty pattern":  {"routes:\n  - name: a\n    keys: ['']\n    sinks: [s]\n", "empty pattern"},
		"unclosed class": {"routes:\n  - name: a\n    datasets: ['[ab']\n    sinks: [s]\n", `datasets pattern "[ab": bad pattern: unclosed '['`},
		"no routes":      {"routes: []\n", "no routes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := pipeline.ParseRoutes([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestStreamRecordDecoder_DatasetDeletion: a stream record with operation
// remove and no records (spec D.2) is one dataset deletion at the dataset's
// sync count; an update that removed keys stays record changes.
func TestStreamRecordDecoder_DatasetDeletion(t *testing.T) {
	dec := pipeline.StreamRecordDecoder(nil)
	got, err := dec(context.Background(), []byte(`{"identityPoolId":"us-east-1:p","identityId":"us-east-1:i","dataSetName":"settings",
		"operation":"remove","lastModifiedDate":1424801824343,"payloadType":"Inline","syncCount":8}`))
	if err != nil {
		t.Fatal(err)
	}
	want := pipeline.DatasetDeletion("us-east-1:p", "us-east-1:i", "settings", 8, time.UnixMilli(1424801824343).UTC())
	if len(got) != 1 || !got[0].DatasetDeleted || got[0].ID() != want.ID() || got[0].DatasetSyncCount != 8 ||
		got[0].Key != "" || got[0].Op != pipeline.OpRemove || !got[0].LastModified.Equal(want.LastModified) {
		t.Fatalf("decode = %+v, want %+v", got, want)
	}
	got, err = dec(context.Background(), []byte(`{"identityPoolId":"us-east-1:p","identityId":"us-east-1:i","dataSetName":"settings",
		"operation":"remove","kinesisSyncRecords":[{"key":"k","syncCount":9,"op":"remove","lastModifiedDate":1,"deviceLastModifiedDate":1}],
		"lastModifiedDate":1,"payloadType":"Inline","syncCount":9}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DatasetDeleted || got[0].Key != "k" {
		t.Fatalf("decode = %+v, want one record remove", got)
	}
}
