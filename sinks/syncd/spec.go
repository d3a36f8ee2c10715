package syncd

import (
	"context"

	"github.com/cognitosync/cognitosync/pipeline"
)

// Spec is the sink's entry in the worker's configuration file:
//
//	{name: replica, type: syncd, store: "postgres://…"}   # or store: /var/lib/syncd (a --data directory)
//
// The worker's --sinks syncd --syncd-store STORE builds the same entry.
type Spec struct {
	Store string `yaml:"store"`
}

// Type is the syncd sink's entry in the worker's table of sink types.
var Type = pipeline.SinkType{Name: "syncd", Decode: func(unmarshal func(any) error) (pipeline.SinkSpec, error) {
	return pipeline.DecodeSpec(unmarshal, Spec{})
}}

var _ pipeline.SinkSpec = Spec{}

func (s Spec) config(deps pipeline.SinkDeps) Config {
	return Config{Store: s.Store, Name: deps.Name, Registerer: deps.Registerer, Log: deps.Log}
}

// Validate reports a missing store.
func (s Spec) Validate(deps pipeline.SinkDeps) error { return s.config(deps).Validate() }

// Build opens the store (see New).
func (s Spec) Build(ctx context.Context, deps pipeline.SinkDeps) (pipeline.Sink, error) {
	return New(ctx, s.config(deps))
}
