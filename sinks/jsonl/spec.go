package jsonl

import (
	"context"
	"time"

	"github.com/cognitosync/cognitosync/pipeline"
)

// Spec is the sink's entry in the worker's configuration file:
//
//	{name: files, type: jsonl, dir: ./data/out, prefix: changes, max_bytes: 67108864, max_age: 1h}
//
// Dir is required; the other fields default as in Config.
type Spec struct {
	Dir      string        `yaml:"dir"`
	Prefix   string        `yaml:"prefix,omitempty"`
	MaxBytes int64         `yaml:"max_bytes,omitempty"`
	MaxAge   time.Duration `yaml:"max_age,omitempty"`
}

// Type is the jsonl sink's entry in the worker's table of sink types.
var Type = pipeline.SinkType{Name: "jsonl", Decode: func(unmarshal func(any) error) (pipeline.SinkSpec, error) {
	return pipeline.DecodeSpec(unmarshal, Spec{})
}}

var _ pipeline.SinkSpec = Spec{}

func (s Spec) config(deps pipeline.SinkDeps) Config {
	return Config{Dir: s.Dir, Prefix: s.Prefix, MaxBytes: s.MaxBytes, MaxAge: s.MaxAge, Name: deps.Name, Registerer: deps.Registerer}
}

// Validate reports what Config.Validate reports.
func (s Spec) Validate(deps pipeline.SinkDeps) error {
	c := s.config(deps)
	c.setDefaults()
	return c.Validate()
}

// Build creates the sink (see New).
func (s Spec) Build(_ context.Context, deps pipeline.SinkDeps) (pipeline.Sink, error) {
	return New(s.config(deps))
}
