package postgres

import (
	"context"
	"errors"

	"github.com/cognitosync/cognitosync/pipeline"
)

// Spec is the sink's entry in the worker's configuration file:
//
//	{name: db, type: postgres, url: "postgres://…", schema: sync, change_log: true}
//
// URL defaults to the host's database (SinkDeps.DatabaseURL: the worker's
// --database-url); the other fields default as in Config.
type Spec struct {
	URL         string `yaml:"url,omitempty"`
	Schema      string `yaml:"schema,omitempty"`
	TablePrefix string `yaml:"table_prefix,omitempty"`
	ChangeLog   bool   `yaml:"change_log,omitempty"`
}

// Type is the postgres sink's entry in the worker's table of sink types.
var Type = pipeline.SinkType{Name: "postgres", Decode: func(unmarshal func(any) error) (pipeline.SinkSpec, error) {
	return pipeline.DecodeSpec(unmarshal, Spec{})
}}

var _ pipeline.SinkSpec = Spec{}

func (s Spec) config(deps pipeline.SinkDeps) Config {
	url := s.URL
	if url == "" {
		url = deps.DatabaseURL
	}
	return Config{URL: url, Schema: s.Schema, TablePrefix: s.TablePrefix, ChangeLog: s.ChangeLog, Name: deps.Name, Registerer: deps.Registerer}
}

// Validate reports what Config.Validate reports; a missing URL when the
// host has no database either.
func (s Spec) Validate(deps pipeline.SinkDeps) error {
	c := s.config(deps)
	if c.URL == "" {
		return errors.New("postgres sink: url is required when the worker has no --database-url")
	}
	c.setDefaults()
	return c.Validate()
}

// Build connects and migrates (see New).
func (s Spec) Build(ctx context.Context, deps pipeline.SinkDeps) (pipeline.Sink, error) {
	return New(ctx, s.config(deps))
}
