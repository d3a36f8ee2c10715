package synctrigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Config is the JSON document an operator writes (SYNCTRIGGER_RULES):
//
//	{"rules": [
//	  {"type": "deny_keys",  "datasets": ["*"], "keys": ["admin*"]},
//	  {"type": "allow_keys", "datasets": ["settings"], "keys": ["theme", "score_*"], "action": "drop"},
//	  {"type": "max_size",   "max_value_bytes": 4096},
//	  {"type": "regex",      "datasets": ["settings"], "keys": ["score_*"], "pattern": "^[0-9]+$", "message": "scores are numbers"},
//	  {"type": "json_schema","datasets": ["profile"], "keys": ["card"], "schema": {"type": "object"}},
//	  {"type": "transform",  "keys": ["email"], "ops": ["trim", "lower"]},
//	  {"type": "stamp",      "datasets": ["settings"], "key": "_updatedAt", "source": "time"},
//	  {"type": "require",    "datasets": ["purchases"], "dataset": "profile", "key": "verified", "pattern": "^true$"},
//	  {"type": "audit",      "datasets": ["settings"], "target": "audit"},
//	  {"type": "summary",    "target": "summary"}
//	]}
//
// "datasets" and "keys" are patterns of the dialect the worker's routes use
// (package internal/glob; see the README's Patterns section); absent means
// all. For allow_keys and deny_keys, "keys" lists the allowed or denied
// patterns.
type Config struct {
	Rules []RuleConfig `json:"rules"`
}

// RuleConfig is one rule of Config; which fields apply depends on Type.
type RuleConfig struct {
	Type     string   `json:"type"`
	Datasets []string `json:"datasets,omitempty"`
	Keys     []string `json:"keys,omitempty"`
	Action   Action   `json:"action,omitempty"`

	MaxValueBytes int `json:"max_value_bytes,omitempty"` // max_size
	MaxKeyBytes   int `json:"max_key_bytes,omitempty"`   // max_size

	Pattern string          `json:"pattern,omitempty"` // regex, require
	Message string          `json:"message,omitempty"` // regex, json_schema, require
	Schema  json.RawMessage `json:"schema,omitempty"`  // json_schema

	Ops []Transform `json:"ops,omitempty"` // transform

	Key    string `json:"key,omitempty"`    // stamp, require
	Source string `json:"source,omitempty"` // stamp
	Value  string `json:"value,omitempty"`  // stamp (literal)

	Dataset string `json:"dataset,omitempty"` // require
	Target  string `json:"target,omitempty"`  // audit, summary
}

// Options are what Load needs besides the document.
type Options struct {
	// API is the sync API for require, audit and summary rules (a
	// *client.Client in the Lambda function). nil: such rules fail at load.
	API syncapi.SyncAPI
	Now func() time.Time // nil: time.Now
	Log *slog.Logger     // nil: discard
}

// Load parses a Config document and builds its Rules. Every invalid rule is
// reported, with its index.
func Load(doc []byte, o Options) (*Rules, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("sync trigger rules: %w", err)
	}
	var (
		rules []Rule
		errs  []error
	)
	for i, rc := range c.Rules {
		r, err := rc.build(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules[%d] (%s): %w", i, rc.Type, err))
			continue
		}
		rules = append(rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return New(o.Log, rules...), nil
}

func (rc RuleConfig) build(o Options) (Rule, error) {
	sc := Scope{Datasets: rc.Datasets, Keys: rc.Keys}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	if err := rc.Action.validate(); err != nil {
		return nil, err
	}
	needAPI := func() error {
		if o.API == nil {
			return errNoAPI
		}
		return nil
	}
	switch rc.Type {
	case "allow_keys", "deny_keys":
		if len(rc.Keys) == 0 {
			return nil, errors.New(`"keys" lists the patterns and must not be empty`)
		}
		return KeysRule{Scope: Scope{Datasets: rc.Datasets}, Allow: rc.Type == "allow_keys", Patterns: rc.Keys, Action: rc.Action}, nil
	case "max_size":
		if rc.MaxValueBytes <= 0 && rc.MaxKeyBytes <= 0 {
			return nil, errors.New("set max_value_bytes or max_key_bytes")
		}
		return MaxSizeRule{Scope: sc, MaxValueBytes: rc.MaxValueBytes, MaxKeyBytes: rc.MaxKeyBytes, Action: rc.Action}, nil
	case "regex":
		re, err := regexp.Compile(rc.Pattern)
		if err != nil || rc.Pattern == "" {
			return nil, fmt.Errorf("pattern %q: want a Go regular expression (%v)", rc.Pattern, err)
		}
		return RegexRule{Scope: sc, Pattern: re, Message: rc.Message, Action: rc.Action}, nil
	case "json_schema":
		if len(rc.Schema) == 0 {
			return nil, errors.New(`"schema" is required`)
		}
		s, err := CompileSchema(rc.Schema)
		if err != nil {
			return nil, err
		}
		return SchemaRule{Scope: sc, Schema: s, Message: rc.Message, Action: rc.Action}, nil
	case "transform":
		if len(rc.Ops) == 0 {
			return nil, errors.New(`"ops" is required`)
		}
		for _, op := range rc.Ops {
			if _, err := op.apply(""); err != nil {
				return nil, err
			}
		}
		return TransformRule{Scope: sc, Ops: rc.Ops}, nil
	case "stamp":
		switch rc.Source {
		case "", StampTime, StampUnixMillis, StampIdentity, StampLiteral:
		default:
			return nil, fmt.Errorf("source must be time, unix_ms, identity_id or literal, got %q", rc.Source)
		}
		if rc.Key == "" {
			return nil, errors.New(`"key" is required`)
		}
		return StampRule{Scope: sc, Key: rc.Key, Source: rc.Source, Value: rc.Value, Now: o.Now}, nil
	case "require":
		if rc.Dataset == "" || rc.Key == "" {
			return nil, errors.New(`"dataset" and "key" are required`)
		}
		var re *regexp.Regexp
		if rc.Pattern != "" {
			var err error
			if re, err = regexp.Compile(rc.Pattern); err != nil {
				return nil, fmt.Errorf("pattern: %w", err)
			}
		}
		return RequireRule{Scope: sc, API: o.API, Dataset: rc.Dataset, Key: rc.Key, Pattern: re, Message: rc.Message}, needAPI()
	case "audit", "summary":
		if rc.Target == "" {
			return nil, errors.New(`"target" (the dataset to write) is required`)
		}
		if err := syncapi.ValidateDatasetName(rc.Target); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		if rc.Type == "audit" {
			return AuditRule{Scope: sc, API: o.API, Target: rc.Target, Now: o.Now}, needAPI()
		}
		return SummaryRule{Scope: sc, API: o.API, Target: rc.Target, Now: o.Now}, needAPI()
	case "":
		return nil, errors.New(`"type" is required`)
	}
	return nil, fmt.Errorf("unknown rule type %q", rc.Type)
}
