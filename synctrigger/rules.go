package synctrigger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Action is what a filter rule does with an offending record.
type Action string

// Actions.
const (
	ActionReject Action = "reject" // reject the whole sync (default)
	ActionDrop   Action = "drop"   // leave that record's change out; the rest is stored
)

func (a Action) validate() error {
	switch a {
	case "", ActionReject, ActionDrop:
		return nil
	}
	return fmt.Errorf("action must be reject or drop, got %q", a)
}

// offend rejects, or drops key from ev.
func offend(a Action, ev *Event, key, rule, format string, args ...any) error {
	if a == ActionDrop {
		delete(ev.DatasetRecords, key)
		return nil
	}
	return Reject(rule, format, args...)
}

// KeysRule allows (Allow true) or denies keys by pattern: a changed record
// (new, modified or removed) whose key is not allowed, or is denied, is
// rejected or dropped. Scope.Keys is ignored; Patterns are the keys.
type KeysRule struct {
	Scope
	Allow    bool
	Patterns []string
	Action   Action
}

// Apply implements Rule.
func (r KeysRule) Apply(_ context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) {
		return nil
	}
	name := "deny_keys"
	if r.Allow {
		name = "allow_keys"
	}
	for _, key := range sortedKeys(ev.DatasetRecords) {
		rec := ev.DatasetRecords[key]
		if !rec.Changed() || matchAny(r.Patterns, key) == r.Allow {
			continue
		}
		if err := offend(r.Action, ev, key, name, "Key %q may not be written in dataset %q.", key, ev.DatasetName); err != nil {
			return err
		}
	}
	return nil
}

// MaxSizeRule limits the UTF-8 byte length of new values (MaxValueBytes)
// and keys (MaxKeyBytes); 0 means no limit.
type MaxSizeRule struct {
	Scope
	MaxValueBytes int
	MaxKeyBytes   int
	Action        Action
}

// Apply implements Rule.
func (r MaxSizeRule) Apply(_ context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) {
		return nil
	}
	return r.changed(ev, func(key string, rec syncapi.TriggerRecord) error {
		if r.MaxKeyBytes > 0 && len(key) > r.MaxKeyBytes {
			return offend(r.Action, ev, key, "max_size", "Key %q is %d bytes long; the limit is %d.", key, len(key), r.MaxKeyBytes)
		}
		if rec.Removed() || r.MaxValueBytes <= 0 {
			return nil
		}
		if n := len(*rec.NewValue); n > r.MaxValueBytes {
			return offend(r.Action, ev, key, "max_size", "Value of %q is %d bytes long; the limit is %d.", key, n, r.MaxValueBytes)
		}
		return nil
	})
}

// RegexRule requires new values of the scope's keys to match Pattern.
type RegexRule struct {
	Scope
	Pattern *regexp.Regexp
	Message string // "": a message naming the key and the pattern
	Action  Action
}

// Apply implements Rule.
func (r RegexRule) Apply(_ context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) {
		return nil
	}
	return r.changed(ev, func(key string, rec syncapi.TriggerRecord) error {
		if rec.Removed() || r.Pattern.MatchString(*rec.NewValue) {
			return nil
		}
		if r.Message != "" {
			return offend(r.Action, ev, key, "regex", "%s (key %q)", r.Message, key)
		}
		return offend(r.Action, ev, key, "regex", "Value of %q does not match %s.", key, r.Pattern)
	})
}

// SchemaRule requires new values of the scope's keys to be JSON documents
// valid against Schema.
type SchemaRule struct {
	Scope
	Schema  *jsonschema.Schema
	Message string
	Action  Action
}

// CompileSchema compiles a JSON Schema document (draft 2020-12 unless it
// says otherwise).
func CompileSchema(doc json.RawMessage) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("rule.json", v); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return c.Compile("rule.json")
}

// Apply implements Rule.
func (r SchemaRule) Apply(_ context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) {
		return nil
	}
	return r.changed(ev, func(key string, rec syncapi.TriggerRecord) error {
		if rec.Removed() {
			return nil
		}
		msg := r.Message
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(*rec.NewValue))
		if err == nil {
			err = r.Schema.Validate(v)
		}
		if err == nil {
			return nil
		}
		if msg == "" {
			msg = fmt.Sprintf("Value of %q is not valid: %s", key, firstLine(err.Error()))
		} else {
			msg = fmt.Sprintf("%s (key %q)", msg, key)
		}
		return offend(r.Action, ev, key, "json_schema", "%s", msg)
	})
}

func firstLine(s string) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	return strings.Join(strings.Fields(s), " ")
}

// Transform names a normalising transform of TransformRule.
type Transform string

// Transforms. "truncate:N" keeps at most N runes.
const (
	Trim           Transform = "trim"            // strip leading and trailing white space
	Lower          Transform = "lower"           // lower case
	Upper          Transform = "upper"           // upper case
	CollapseSpaces Transform = "collapse_spaces" // runs of white space become one space
	JSONCompact    Transform = "json_compact"    // re-encode JSON without insignificant white space; non-JSON is left as is
)

func (t Transform) apply(v string) (string, error) {
	switch {
	case t == Trim:
		return strings.TrimSpace(v), nil
	case t == Lower:
		return strings.ToLower(v), nil
	case t == Upper:
		return strings.ToUpper(v), nil
	case t == CollapseSpaces:
		return strings.Join(strings.Fields(v), " "), nil
	case t == JSONCompact:
		var b bytes.Buffer
		if json.Compact(&b, []byte(v)) != nil {
			return v, nil
		}
		return b.String(), nil
	case strings.HasPrefix(string(t), "truncate:"):
		n, err := strconv.Atoi(strings.TrimPrefix(string(t), "truncate:"))
		if err != nil || n < 0 {
			return v, fmt.Errorf("bad transform %q: want truncate:N", t)
		}
		if utf8.RuneCountInString(v) > n {
			v = string([]rune(v)[:n])
		}
		return v, nil
	}
	return v, fmt.Errorf("unknown transform %q (want trim, lower, upper, collapse_spaces, json_compact or truncate:N)", t)
}

// TransformRule rewrites new values of the scope's keys, applying Ops in
// order. The client sees the rewritten value in the UpdateRecords response.
type TransformRule struct {
	Scope
	Ops []Transform
}

// Apply implements Rule.
func (r TransformRule) Apply(_ context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) {
		return nil
	}
	return r.changed(ev, func(key string, rec syncapi.TriggerRecord) error {
		if rec.Removed() {
			return nil
		}
		v := *rec.NewValue
		for _, op := range r.Ops {
			var err error
			if v, err = op.apply(v); err != nil {
				return err
			}
		}
		rec.NewValue = &v
		ev.DatasetRecords[key] = rec
		return nil
	})
}

// Stamp sources of StampRule.
const (
	StampTime       = "time"        // RFC 3339 UTC time with milliseconds
	StampUnixMillis = "unix_ms"     // milliseconds since the epoch
	StampIdentity   = "identity_id" // the writing identity
	StampLiteral    = "literal"     // StampRule.Value
)

// StampRule sets Key to a server-side value whenever the sync changes
// anything else in the dataset, overriding what a client sent for Key.
type StampRule struct {
	Scope
	Key    string
	Source string
	Value  string           // for StampLiteral
	Now    func() time.Time // nil: time.Now
}

// Apply implements Rule.
func (r StampRule) Apply(_ context.Context, ev *Event) error {
	if !r.Dataset(ev.DatasetName) {
		return nil
	}
	changed := false
	for k, rec := range ev.DatasetRecords {
		if k != r.Key && rec.Changed() {
			changed = true
			break
		}
	}
	if !changed {
		return nil
	}
	var v string
	switch r.Source {
	case StampTime, "":
		v = clock(r.Now).now().Format("2006-01-02T15:04:05.000Z07:00")
	case StampUnixMillis:
		v = strconv.FormatInt(clock(r.Now).now().UnixMilli(), 10)
	case StampIdentity:
		v = ev.IdentityID
	case StampLiteral:
		v = r.Value
	default:
		return fmt.Errorf("stamp %q: unknown source %q", r.Key, r.Source)
	}
	rec := ev.DatasetRecords[r.Key]
	rec.NewValue, rec.Op = &v, syncapi.OpReplace
	ev.DatasetRecords[r.Key] = rec
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
