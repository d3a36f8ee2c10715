package synctrigger_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/synctrigger"
)

func sp(s string) *string { return &s }

// ev builds an event for dataset "settings": stored holds untouched
// records, changes the incoming ones ("" value with remove=true = removal).
func ev(stored map[string]string, changes map[string]*string) synctrigger.Event {
	e := synctrigger.Event{Version: 2, EventType: "SyncTrigger", Region: "us-east-1",
		IdentityPoolID: "us-east-1:pool", IdentityID: "us-east-1:idn", DatasetName: "settings",
		DatasetRecords: map[string]syncapi.TriggerRecord{}}
	for k, v := range stored {
		e.DatasetRecords[k] = syncapi.TriggerRecord{OldValue: sp(v), NewValue: sp(v), Op: syncapi.OpReplace}
	}
	for k, v := range changes {
		r := e.DatasetRecords[k]
		if v == nil {
			r.NewValue, r.Op = nil, syncapi.OpRemove
		} else {
			r.NewValue, r.Op = v, syncapi.OpReplace
		}
		e.DatasetRecords[k] = r
	}
	return e
}

func values(e synctrigger.Event) map[string]string {
	m := map[string]string{}
	for k, r := range e.DatasetRecords {
		if r.Removed() {
			m[k] = "<removed>"
		} else {
			m[k] = *r.NewValue
		}
	}
	return m
}

func TestRules(t *testing.T) {
	schema, err := synctrigger.CompileSchema([]byte(`{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	fixed := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC) }
	cases := []struct {
		name    string
		rule    synctrigger.Rule
		stored  map[string]string
		changes map[string]*string
		want    map[string]string // nil: only check the error
		reject  string            // substring of the rejection
	}{
		{name: "deny rejects a changed key", rule: synctrigger.KeysRule{Patterns: []string{"admin*"}},
			changes: map[string]*string{"adminX": sp("1")}, reject: `Key "adminX" may not be written`},
		{name: "deny ignores untouched records", rule: synctrigger.KeysRule{Patterns: []string{"admin*"}},
			stored: map[string]string{"admin": "1"}, changes: map[string]*string{"ok": sp("2")},
			want: map[string]string{"admin": "1", "ok": "2"}},
		{name: "deny covers removals", rule: synctrigger.KeysRule{Patterns: []string{"admin*"}},
			stored: map[string]string{"admin": "1"}, changes: map[string]*string{"admin": nil}, reject: "admin"},
		{name: "deny covers keys with '/'", rule: synctrigger.KeysRule{Patterns: []string{"admin*"}},
			changes: map[string]*string{"admin/level": sp("9")}, reject: `Key "admin/level" may not be written`},
		{name: "deny class", rule: synctrigger.KeysRule{Patterns: []string{"[a-c]?"}},
			changes: map[string]*string{"d1": sp("1"), "b2": sp("2")}, reject: `Key "b2" may not be written`},
		{name: "deny drops", rule: synctrigger.KeysRule{Patterns: []string{"admin*"}, Action: synctrigger.ActionDrop},
			changes: map[string]*string{"admin": sp("1"), "ok": sp("2")}, want: map[string]string{"ok": "2"}},
		{name: "deny other dataset", rule: synctrigger.KeysRule{Scope: synctrigger.Scope{Datasets: []string{"other"}}, Patterns: []string{"*"}},
			changes: map[string]*string{"k": sp("1")}, want: map[string]string{"k": "1"}},
		{name: "allow rejects others", rule: synctrigger.KeysRule{Allow: true, Patterns: []string{"theme", "score_*"}},
			changes: map[string]*string{"score_1": sp("1"), "color": sp("red")}, reject: `"color"`},
		{name: "allow passes", rule: synctrigger.KeysRule{Allow: true, Patterns: []string{"theme", "score_*"}},
			changes: map[string]*string{"score_1": sp("1")}, want: map[string]string{"score_1": "1"}},
		{name: "max value bytes", rule: synctrigger.MaxSizeRule{MaxValueBytes: 3},
			changes: map[string]*string{"k": sp("éé")}, reject: "4 bytes long; the limit is 3"},
		{name: "max value bytes ok", rule: synctrigger.MaxSizeRule{MaxValueBytes: 3},
			changes: map[string]*string{"k": sp("abc")}, want: map[string]string{"k": "abc"}},
		{name: "max key bytes drop", rule: synctrigger.MaxSizeRule{MaxKeyBytes: 2, Action: synctrigger.ActionDrop},
			changes: map[string]*string{"long": sp("1"), "ok": sp("2")}, want: map[string]string{"ok": "2"}},
		{name: "regex message", rule: synctrigger.RegexRule{Scope: synctrigger.Scope{Keys: []string{"score*"}}, Pattern: regexp.MustCompile(`^\d+$`), Message: "numbers only"},
			changes: map[string]*string{"score": sp("x")}, reject: `numbers only (key "score")`},
		{name: "regex default message", rule: synctrigger.RegexRule{Pattern: regexp.MustCompile(`^\d+$`)},
			changes: map[string]*string{"score": sp("x")}, reject: `does not match ^\d+$`},
		{name: "regex ignores removal and other keys", rule: synctrigger.RegexRule{Scope: synctrigger.Scope{Keys: []string{"score*"}}, Pattern: regexp.MustCompile(`^\d+$`)},
			stored: map[string]string{"score": "1"}, changes: map[string]*string{"score": nil, "name": sp("x")},
			want: map[string]string{"score": "<removed>", "name": "x"}},
		{name: "schema valid", rule: synctrigger.SchemaRule{Schema: schema},
			changes: map[string]*string{"card": sp(`{"n": 3}`)}, want: map[string]string{"card": `{"n": 3}`}},
		{name: "schema invalid", rule: synctrigger.SchemaRule{Schema: schema},
			changes: map[string]*string{"card": sp(`{"n": "x"}`)}, reject: `Value of "card" is not valid`},
		{name: "schema not JSON", rule: synctrigger.SchemaRule{Schema: schema, Message: "cards are JSON"},
			changes: map[string]*string{"card": sp(`nope`)}, reject: `cards are JSON (key "card")`},
		{name: "transform", rule: synctrigger.TransformRule{Scope: synctrigger.Scope{Keys: []string{"email", "bio", "doc"}},
			Ops: []synctrigger.Transform{synctrigger.Trim, synctrigger.CollapseSpaces, synctrigger.Lower, synctrigger.JSONCompact, "truncate:12"}},
			stored:  map[string]string{"OTHER": "Keep"},
			changes: map[string]*string{"email": sp("  A@B.COM "), "bio": sp("a   very\tlong   text here"), "doc": sp(`{ "a" : 1 }`), "Name": sp(" X ")},
			want:    map[string]string{"OTHER": "Keep", "email": "a@b.com", "bio": "a very long ", "doc": `{"a":1}`, "Name": " X "}},
		{name: "transform upper", rule: synctrigger.TransformRule{Ops: []synctrigger.Transform{synctrigger.Upper}},
			changes: map[string]*string{"k": sp("abc")}, want: map[string]string{"k": "ABC"}},
		{name: "stamp time", rule: synctrigger.StampRule{Key: "_at", Source: synctrigger.StampTime, Now: fixed},
			changes: map[string]*string{"k": sp("1"), "_at": sp("forged")}, want: map[string]string{"k": "1", "_at": "2026-01-02T03:04:05.006Z"}},
		{name: "stamp unix ms", rule: synctrigger.StampRule{Key: "_ms", Source: synctrigger.StampUnixMillis, Now: fixed},
			changes: map[string]*string{"k": sp("1")}, want: map[string]string{"k": "1", "_ms": "1767323045006"}},
		{name: "stamp identity", rule: synctrigger.StampRule{Key: "_by", Source: synctrigger.StampIdentity},
			changes: map[string]*string{"k": sp("1")}, want: map[string]string{"k": "1", "_by": "us-east-1:idn"}},
		{name: "stamp literal", rule: synctrigger.StampRule{Key: "_v", Source: synctrigger.StampLiteral, Value: "2"},
			changes: map[string]*string{"k": nil}, stored: map[string]string{"k": "0"}, want: map[string]string{"k": "<removed>", "_v": "2"}},
		{name: "stamp needs a change", rule: synctrigger.StampRule{Key: "_v", Source: synctrigger.StampLiteral, Value: "2"},
			stored: map[string]string{"k": "0"}, want: map[string]string{"k": "0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := synctrigger.New(nil, c.rule).Handle(context.Background(), ev(c.stored, c.changes))
			if c.reject != "" {
				var rj *synctrigger.Rejection
				if !errors.As(err, &rj) || !strings.Contains(rj.Message, c.reject) {
					t.Fatalf("want a rejection containing %q, got %v", c.reject, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := values(out); !equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// writer is a writing rule that counts its runs.
type writer struct {
	target string
	runs   *int
}

func (w writer) Apply(context.Context, *synctrigger.Event) error { *w.runs++; return nil }
func (w writer) WriteTarget() string                             { return w.target }

// TestRecursionGuard: writing rules never run for an event on a dataset
// that a writing rule targets, but validation rules still do; writing rules
// run after validation, so a rejected sync writes nothing.
func TestRecursionGuard(t *testing.T) {
	var runs int
	deny := synctrigger.KeysRule{Patterns: []string{"bad"}}
	rs := synctrigger.New(nil, writer{"audit", &runs}, deny, writer{"summary", &runs})

	e := ev(nil, map[string]*string{"k": sp("1")})
	if _, err := rs.Handle(context.Background(), e); err != nil || runs != 2 {
		t.Fatalf("settings: err %v, runs %d; want both writers", err, runs)
	}
	for _, target := range []string{"audit", "summary"} {
		runs = 0
		e := ev(nil, map[string]*string{"k": sp("1")})
		e.DatasetName = target
		if _, err := rs.Handle(context.Background(), e); err != nil || runs != 0 {
			t.Fatalf("%s: err %v, runs %d; want no writer", target, err, runs)
		}
		e.DatasetRecords["bad"] = syncapi.TriggerRecord{NewValue: sp("x"), Op: syncapi.OpReplace}
		if _, err := rs.Handle(context.Background(), e); err == nil {
			t.Fatalf("%s: validation rules must still run", target)
		}
	}
	runs = 0
	e = ev(nil, map[string]*string{"bad": sp("1")})
	if _, err := rs.Handle(context.Background(), e); err == nil || runs != 0 {
		t.Fatalf("rejected sync: err %v, writer runs %d", err, runs)
	}
	if !rs.Guarded("audit") || rs.Guarded("settings") {
		t.Fatal("Guarded")
	}
}

func TestLoad(t *testing.T) {
	good := `{"rules":[
	  {"type":"deny_keys","keys":["admin*"]},
	  {"type":"allow_keys","datasets":["s"],"keys":["a"],"action":"drop"},
	  {"type":"max_size","max_value_bytes":10},
	  {"type":"regex","keys":["n"],"pattern":"^[0-9]+$"},
	  {"type":"json_schema","keys":["j"],"schema":{"type":"object"}},
	  {"type":"transform","ops":["trim","truncate:3"]},
	  {"type":"stamp","key":"_at"}]}`
	if _, err := synctrigger.Load([]byte(good), synctrigger.Options{}); err != nil {
		t.Fatal(err)
	}
	bad := []struct{ doc, want string }{
		{`{"rules":[{"type":"nope"}]}`, `unknown rule type "nope"`},
		{`{"rules":[{"type":"deny_keys"}]}`, `"keys"`},
		{`{"rules":[{"type":"regex","pattern":"("}]}`, "regular expression"},
		{`{"rules":[{"type":"json_schema","schema":{"type":3}}]}`, "rules[0] (json_schema)"},
		{`{"rules":[{"type":"transform","ops":["rot13"]}]}`, "unknown transform"},
		{`{"rules":[{"type":"max_size"}]}`, "max_value_bytes"},
		{`{"rules":[{"type":"deny_keys","keys":["a"],"action":"explode"}]}`, "action"},
		{`{"rules":[{"type":"audit","target":"bad name!"}]}`, "target"},
		{`{"rules":[{"type":"audit","target":"audit"}]}`, "no client"},
		{`{"rules":[{"type":"stamp","key":"k","source":"moon"}]}`, "source"},
		{`{"rules":[{"typo":1}]}`, "unknown field"},
		{`{"rules":[{"type":"deny_keys","keys":["[" ]}]}`, "bad pattern"},
		{`{"rules":[{"type":"deny_keys","keys":[""]}]}`, "empty pattern"},
		{`{"rules":[{"type":"max_size","datasets":["[z-a]"],"max_value_bytes":1}]}`, "reversed"},
	}
	for _, b := range bad {
		if _, err := synctrigger.Load([]byte(b.doc), synctrigger.Options{}); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: want error containing %q, got %v", b.doc, b.want, err)
		}
	}
}
