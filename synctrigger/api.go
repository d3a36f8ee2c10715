package synctrigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/cognitosync/cognitosync/syncapi"
)

// RequireRule checks another dataset of the same identity through the sync
// API: the sync is rejected unless record Key of Dataset exists and, when
// Pattern is set, its value matches it. Example: only accept "purchases"
// once "profile" has verified=true.
type RequireRule struct {
	Scope
	API     syncapi.SyncAPI
	Dataset string
	Key     string
	Pattern *regexp.Regexp // nil: any value
	Message string
}

// Apply implements Rule.
func (r RequireRule) Apply(ctx context.Context, ev *Event) error {
	if !r.Scope.Dataset(ev.DatasetName) || !anyChanged(ev, r.Scope) {
		return nil
	}
	if r.API == nil {
		return errNoAPI
	}
	recs, _, _, err := readDataset(ctx, r.API, ev.IdentityPoolID, ev.IdentityID, r.Dataset)
	if err != nil {
		return fmt.Errorf("require %s.%s: %w", r.Dataset, r.Key, err)
	}
	v, ok := recs[r.Key]
	if ok && v.Value != nil && (r.Pattern == nil || r.Pattern.MatchString(*v.Value)) {
		return nil
	}
	if r.Message != "" {
		return Reject("require", "%s", r.Message)
	}
	return Reject("require", "Dataset %q needs record %q of dataset %q to be set first.", ev.DatasetName, r.Key, r.Dataset)
}

func anyChanged(ev *Event, s Scope) bool {
	for k, r := range ev.DatasetRecords {
		if r.Changed() && s.Key(k) {
			return true
		}
	}
	return false
}

// AuditRule keeps, in dataset Target of the same identity, the last change
// of every key of the scope: key "<dataset>/<key>", value a JSON object
// {"op","value","previous","at"} (values truncated to ValueRunes runes).
// It writes through the sync API after every other rule has passed; the
// write precedes syncd's own store write, so a sync that then fails (e.g. a
// conflict with a concurrent writer) may still be audited.
type AuditRule struct {
	Scope
	API        syncapi.SyncAPI
	Target     string
	ValueRunes int              // 0: 256
	Now        func() time.Time // nil: time.Now
}

// WriteTarget implements Writer.
func (r AuditRule) WriteTarget() string { return r.Target }

type auditEntry struct {
	Op        string  `json:"op"`
	Value     *string `json:"value,omitempty"`
	Previous  *string `json:"previous,omitempty"`
	At        string  `json:"at"`
	Truncated bool    `json:"truncated,omitempty"`
}

// Apply implements Rule.
func (r AuditRule) Apply(ctx context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) {
		return nil
	}
	if r.API == nil {
		return errNoAPI
	}
	limit := r.ValueRunes
	if limit <= 0 {
		limit = 256
	}
	at := clock(r.Now).now().Format(time.RFC3339Nano)
	want := map[string]*string{}
	err := r.changed(ev, func(key string, rec syncapi.TriggerRecord) error {
		e := auditEntry{Op: string(syncapi.OpReplace), At: at}
		if rec.Removed() {
			e.Op = string(syncapi.OpRemove)
		} else {
			e.Value, e.Truncated = truncate(*rec.NewValue, limit, e.Truncated)
		}
		if rec.OldValue != nil {
			e.Previous, e.Truncated = truncate(*rec.OldValue, limit, e.Truncated)
		}
		b, _ := json.Marshal(e)
		s := string(b)
		want[clip(ev.DatasetName+"/"+key, 1024)] = &s
		return nil
	})
	if err != nil || len(want) == 0 {
		return err
	}
	return writeDataset(ctx, r.API, ev.IdentityPoolID, ev.IdentityID, r.Target, func(map[string]syncapi.Record) map[string]*string { return want })
}

// SummaryRule keeps, in dataset Target of the same identity, one record per
// dataset of the scope: key = dataset name, value {"records","bytes",
// "updatedAt"} describing the dataset as this sync leaves it.
type SummaryRule struct {
	Scope
	API    syncapi.SyncAPI
	Target string
	Now    func() time.Time // nil: time.Now
}

// WriteTarget implements Writer.
func (r SummaryRule) WriteTarget() string { return r.Target }

// Apply implements Rule.
func (r SummaryRule) Apply(ctx context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) || !anyChanged(ev, Scope{}) {
		return nil
	}
	if r.API == nil {
		return errNoAPI
	}
	var n, size int
	for k, rec := range ev.DatasetRecords {
		if !rec.Removed() {
			n++
			size += len(k) + len(*rec.NewValue)
		}
	}
	b, _ := json.Marshal(map[string]any{"records": n, "bytes": size, "updatedAt": clock(r.Now).now().Format(time.RFC3339Nano)})
	s := string(b)
	return writeDataset(ctx, r.API, ev.IdentityPoolID, ev.IdentityID, r.Target, func(map[string]syncapi.Record) map[string]*string {
		return map[string]*string{ev.DatasetName: &s}
	})
}

func truncate(s string, n int, already bool) (*string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return &s, already
	}
	t := string([]rune(s)[:n])
	return &t, true
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// readDataset returns every record (tombstones too) of a dataset, its
// session token and sync count.
func readDataset(ctx context.Context, api syncapi.SyncAPI, pool, identity, dataset string) (map[string]syncapi.Record, string, int64, error) {
	recs := map[string]syncapi.Record{}
	in := syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: dataset}
	var token string
	var count int64
	for {
		out, err := api.ListRecords(ctx, in)
		if err != nil {
			return nil, "", 0, err
		}
		for _, r := range out.Records {
			recs[r.Key] = r
		}
		token, count = out.SyncSessionToken, out.DatasetSyncCount
		if out.NextToken == "" {
			return recs, token, count, nil
		}
		in.NextToken, in.SyncSessionToken = out.NextToken, out.SyncSessionToken
	}
}

// writeDataset writes the values fn returns (nil removes) to a dataset,
// retrying a few times when another writer got there first.
func writeDataset(ctx context.Context, api syncapi.SyncAPI, pool, identity, dataset string, fn func(map[string]syncapi.Record) map[string]*string) error {
	var err error
	for range 4 {
		var (
			recs  map[string]syncapi.Record
			token string
		)
		recs, token, _, err = readDataset(ctx, api, pool, identity, dataset)
		if err != nil {
			return fmt.Errorf("read %s: %w", dataset, err)
		}
		var patches []syncapi.RecordPatch
		want := fn(recs)
		for _, k := range sortedKeys(want) {
			v := want[k]
			p := syncapi.RecordPatch{Op: syncapi.OpReplace, Key: k, Value: v, SyncCount: recs[k].SyncCount}
			if v == nil {
				p.Op = syncapi.OpRemove
			}
			patches = append(patches, p)
		}
		_, err = api.UpdateRecords(ctx, syncapi.UpdateRecordsInput{
			IdentityPoolID: pool, IdentityID: identity, DatasetName: dataset,
			SyncSessionToken: token, RecordPatches: patches,
		})
		if !errors.Is(err, syncapi.ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", dataset, err)
	}
	return nil
}
