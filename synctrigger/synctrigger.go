// Package synctrigger is a Cognito Sync SyncTrigger built from rules: key
// allow and deny patterns, value size limits, regex and JSON-schema
// validation, normalising transforms, server-stamped fields, and rules that
// use the sync API (check another dataset of the identity, keep an audit or
// summary dataset). Operators configure rules as JSON (Load); Go code can
// add its own Rule implementations (New).
//
// Events are syncapi.TriggerEvent, whose JSON is that of aws-lambda-go's
// events.CognitoEvent with null kept apart from "" (FromCognitoEvent and
// ToCognitoEvent convert). Rules.Handle is an aws-lambda-go handler.
//
// # Recursion guard
//
// Rules that write through the sync API (AuditRule, SummaryRule) only write
// to their target datasets, and Rules never runs a writing rule for an event
// on a dataset that any writing rule targets. Every chain of trigger
// invocations therefore stops after one write, whatever credentials the
// function uses: with developer credentials (the normal case) its writes do
// not run the SyncTrigger at all (spec E.2); with identity credentials the
// write to the target dataset runs the trigger once more, which validates it
// but writes nothing. The event carries no caller, so the guard is keyed on
// the dataset rather than on who wrote.
package synctrigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cognitosync/cognitosync/internal/glob"
	"github.com/cognitosync/cognitosync/syncapi"
)

// Event is the SyncTrigger event a rule inspects and rewrites.
type Event = syncapi.TriggerEvent

// Rule checks or rewrites one event. Apply returns a *Rejection (or any
// error) to reject the whole sync; it edits ev.DatasetRecords to change
// what is stored: set NewValue, set Op to remove, add keys, or delete a key
// to leave that change out.
type Rule interface {
	Apply(ctx context.Context, ev *Event) error
}

// Writer is a Rule that writes to another dataset through the sync API.
// Writing rules run after every other rule, and never for an event on a
// dataset that a writing rule targets (the recursion guard).
type Writer interface {
	Rule
	WriteTarget() string
}

// Rejection rejects a sync with a message the client sees (in
// InvalidLambdaFunctionOutputException).
type Rejection struct {
	Rule    string // rule name, e.g. "deny_keys"
	Message string
}

func (r *Rejection) Error() string { return r.Message }

// Reject returns a *Rejection.
func Reject(rule, format string, args ...any) error {
	return &Rejection{Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// Rules is an ordered set of rules: a SyncTrigger handler. It is safe for
// concurrent use if its rules are.
type Rules struct {
	rules   []Rule
	writers []Writer
	targets map[string]bool
	log     *slog.Logger
}

// New returns Rules that applies rules in order (writing rules last, in
// order). A nil log discards.
func New(log *slog.Logger, rules ...Rule) *Rules {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rs := &Rules{targets: map[string]bool{}, log: log}
	for _, r := range rules {
		if w, ok := r.(Writer); ok {
			rs.writers = append(rs.writers, w)
			rs.targets[w.WriteTarget()] = true
		} else {
			rs.rules = append(rs.rules, r)
		}
	}
	return rs
}

// Guarded reports whether writing rules are skipped for dataset (the
// recursion guard: it is a write target).
func (rs *Rules) Guarded(dataset string) bool { return rs.targets[dataset] }

// Handle applies the rules to ev and returns the event to store. Its
// signature suits aws-lambda-go's lambda.Start and trigger.InProcess.
func (rs *Rules) Handle(ctx context.Context, ev Event) (Event, error) {
	if ev.DatasetRecords == nil {
		ev.DatasetRecords = map[string]syncapi.TriggerRecord{}
	}
	for _, r := range rs.rules {
		if err := r.Apply(ctx, &ev); err != nil {
			rs.log.Info("sync rejected", "dataset", ev.DatasetName, "identity", ev.IdentityID, "err", err)
			return Event{}, err
		}
	}
	if rs.Guarded(ev.DatasetName) {
		if len(rs.writers) > 0 {
			rs.log.Debug("recursion guard: no writing rules for a write target", "dataset", ev.DatasetName)
		}
		return ev, nil
	}
	for _, w := range rs.writers {
		if err := w.Apply(ctx, &ev); err != nil {
			rs.log.Warn("writing rule failed", "dataset", ev.DatasetName, "target", w.WriteTarget(), "err", err)
			return Event{}, err
		}
	}
	return ev, nil
}

// Scope selects the datasets and keys a rule applies to, by patterns of
// package internal/glob, the dialect the worker's routes use too ("*",
// "score_*", "[a-c]?"; '*' also matches '/'). Empty lists match
// everything.
type Scope struct {
	Datasets []string `json:"datasets,omitempty"`
	Keys     []string `json:"keys,omitempty"`
}

func matchAny(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if glob.Match(p, s) {
			return true
		}
	}
	return false
}

// Dataset reports whether the scope covers the dataset.
func (s Scope) Dataset(name string) bool { return matchAny(s.Datasets, name) }

// Key reports whether the scope covers the key.
func (s Scope) Key(key string) bool { return matchAny(s.Keys, key) }

func (s Scope) validate() error {
	for _, p := range append(append([]string{}, s.Datasets...), s.Keys...) {
		if err := glob.Validate(p); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}

// changed calls fn for each changed record of ev in the scope's keys, in key
// order so that rejections are deterministic.
func (s Scope) changed(ev *Event, fn func(key string, r syncapi.TriggerRecord) error) error {
	for _, key := range sortedKeys(ev.DatasetRecords) {
		r := ev.DatasetRecords[key]
		if r.Changed() && s.Key(key) {
			if err := fn(key, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// FromCognitoEvent converts aws-lambda-go's event. Its plain strings cannot
// carry null: a "remove" gets a nil NewValue, and an empty OldValue of a
// record whose op is replace and whose new value differs is taken as
// absent.
func FromCognitoEvent(ce events.CognitoEvent) Event {
	ev := Event{
		Version: ce.Version, EventType: ce.EventType, Region: ce.Region,
		IdentityPoolID: ce.IdentityPoolID, IdentityID: ce.IdentityID, DatasetName: ce.DatasetName,
		DatasetRecords: make(map[string]syncapi.TriggerRecord, len(ce.DatasetRecords)),
	}
	for k, r := range ce.DatasetRecords {
		tr := syncapi.TriggerRecord{Op: syncapi.Operation(r.Op)}
		if r.OldValue != "" {
			tr.OldValue = &r.OldValue
		}
		if tr.Op != syncapi.OpRemove {
			tr.NewValue = &r.NewValue
		}
		ev.DatasetRecords[k] = tr
	}
	return ev
}

// ToCognitoEvent converts to aws-lambda-go's event (null becomes "").
func ToCognitoEvent(ev Event) events.CognitoEvent {
	ce := events.CognitoEvent{
		Version: ev.Version, EventType: ev.EventType, Region: ev.Region,
		IdentityPoolID: ev.IdentityPoolID, IdentityID: ev.IdentityID, DatasetName: ev.DatasetName,
		DatasetRecords: make(map[string]events.CognitoDatasetRecord, len(ev.DatasetRecords)),
	}
	for k, r := range ev.DatasetRecords {
		cr := events.CognitoDatasetRecord{Op: string(r.Op)}
		if r.OldValue != nil {
			cr.OldValue = *r.OldValue
		}
		if r.NewValue != nil {
			cr.NewValue = *r.NewValue
		}
		ce.DatasetRecords[k] = cr
	}
	return ce
}

// clock is the time source of stamps and audit records.
type clock func() time.Time

func (c clock) now() time.Time {
	if c == nil {
		return time.Now().UTC()
	}
	return c().UTC()
}

var errNoAPI = errors.New("this rule uses the sync API, but no client is configured (set SYNCTRIGGER_SYNC_ENDPOINT or the AWS region)")
