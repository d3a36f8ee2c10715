package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/cognitosync/cognitosync/internal/glob"
)

// Route sends the changes that match its patterns to its sinks. Every
// pattern list is a set of alternatives: a change matches a list when it
// matches one of its patterns, and an empty list matches everything.
// Patterns are the dialect of package internal/glob ('*' any run of
// characters, also '/' and ':', so "us-east-1:*" matches every pool of a
// region; '?' one character; [a-z] and [^a-z] classes; '\' escapes). A
// change matches the route when it matches all five lists.
type Route struct {
	// Name identifies the route in metrics (label route), logs and, in
	// Kinesis mode, its consumer group (checkpoints are per route). Required;
	// letters, digits, '.', '_' and '-'.
	Name string `yaml:"name" json:"name"`
	// Pools, Identities, Datasets and Keys are glob patterns of the
	// identityPoolId, identityId, dataset name and record key.
	Pools      []string `yaml:"pools,omitempty" json:"pools,omitempty"`
	Identities []string `yaml:"identities,omitempty" json:"identities,omitempty"`
	Datasets   []string `yaml:"datasets,omitempty" json:"datasets,omitempty"`
	Keys       []string `yaml:"keys,omitempty" json:"keys,omitempty"`
	// Ops limits the route to replace or remove changes; empty: both.
	Ops []Op `yaml:"ops,omitempty" json:"ops,omitempty"`
	// Sinks names the sinks the matching changes are written to, in order.
	// At least one; the router acknowledges a message only after every one
	// of them accepted its batch.
	Sinks []string `yaml:"sinks" json:"sinks"`
}

var routeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate reports a missing or malformed name, no sinks, an unknown op or a
// malformed pattern.
func (r Route) Validate() error {
	var errs []error
	if !routeName.MatchString(r.Name) {
		errs = append(errs, fmt.Errorf("route %q: name must be 1 to 64 letters, digits, '.', '_' or '-'", r.Name))
	}
	if len(r.Sinks) == 0 {
		errs = append(errs, fmt.Errorf("route %q: needs at least one sink", r.Name))
	}
	seen := map[string]bool{}
	for _, s := range r.Sinks {
		if s == "" {
			errs = append(errs, fmt.Errorf("route %q: empty sink name", r.Name))
		}
		if seen[s] {
			errs = append(errs, fmt.Errorf("route %q: sink %q listed twice", r.Name, s))
		}
		seen[s] = true
	}
	for _, op := range r.Ops {
		if op != OpReplace && op != OpRemove {
			errs = append(errs, fmt.Errorf("route %q: op %q must be replace or remove", r.Name, op))
		}
	}
	for field, pats := range map[string][]string{"pools": r.Pools, "identities": r.Identities, "datasets": r.Datasets, "keys": r.Keys} {
		for _, p := range pats {
			if err := glob.Validate(p); err != nil {
				errs = append(errs, fmt.Errorf("route %q: %s pattern %q: %w", r.Name, field, p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Match reports whether c matches every pattern list of the route. A
// dataset deletion (Change.DatasetDeleted) removes every key of the
// dataset, so the key patterns do not apply to it.
func (r Route) Match(c Change) bool {
	return r.MatchDataset(c.IdentityPoolID, c.IdentityID, c.DatasetName) &&
		(c.DatasetDeleted || matchAny(r.Keys, c.Key)) && r.matchOp(c.Op)
}

// MatchDataset reports whether the route's pool, identity and dataset
// patterns match: the part of Match that a whole stream record shares.
func (r Route) MatchDataset(pool, identity, dataset string) bool {
	return matchAny(r.Pools, pool) && matchAny(r.Identities, identity) && matchAny(r.Datasets, dataset)
}

func (r Route) matchOp(op Op) bool {
	if len(r.Ops) == 0 {
		return true
	}
	for _, o := range r.Ops {
		if o == op {
			return true
		}
	}
	return false
}

// Filter returns the changes of batch the route matches, in order; nil when
// none does.
func (r Route) Filter(batch []Change) []Change {
	var out []Change
	for _, c := range batch {
		if r.Match(c) {
			out = append(out, c)
		}
	}
	return out
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

// RouteTable is the routes section of the worker's configuration file.
type RouteTable struct {
	Routes []Route `yaml:"routes" json:"routes"`
}

// Validate checks every route and that names are unique.
func (t RouteTable) Validate() error {
	var errs []error
	if len(t.Routes) == 0 {
		errs = append(errs, errors.New("no routes"))
	}
	names := map[string]bool{}
	for _, r := range t.Routes {
		if err := r.Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("route %q defined twice", r.Name))
		}
		names[r.Name] = true
	}
	return errors.Join(errs...)
}

// ParseRoutes reads a route table from YAML or JSON (JSON is YAML) and
// validates it. Unknown fields are errors, so a typo ("dataset:" for
// "datasets:") cannot silently widen a route.
func ParseRoutes(data []byte) (RouteTable, error) {
	var t RouteTable
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return RouteTable{}, fmt.Errorf("parse routes: %w", err)
	}
	if err := t.Validate(); err != nil {
		return RouteTable{}, err
	}
	return t, nil
}
