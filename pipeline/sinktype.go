package pipeline

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// SinkType is one kind of sink that a host's configuration names with
// type:, e.g. "jsonl". Each sink package declares its SinkType next to its
// SinkSpec; the host keeps an explicit table of the types it offers and
// looks the type of every configured sink up there.
type SinkType struct {
	// Name is the value of type: in the configuration.
	Name string
	// Decode reads one sink entry of the configuration into the package's
	// SinkSpec, with its defaults. unmarshal decodes the whole entry (also
	// its name and type, which SinkHeader covers) into a Go value and fails
	// on fields the value does not have; DecodeSpec does the usual part.
	Decode func(unmarshal func(any) error) (SinkSpec, error)
}

// SinkSpec is the configuration of one sink as its package defines it,
// decoded from a configuration file or built by the host from flags.
type SinkSpec interface {
	// Validate reports every invalid setting at once. deps are the ones
	// Build will get, so a spec can check what it takes from them (an
	// environment variable that holds a secret, a default URL); deps'
	// Registerer and Log may still be nil.
	Validate(deps SinkDeps) error
	// Build creates the sink. The caller closes it.
	Build(ctx context.Context, deps SinkDeps) (Sink, error)
}

// SinkDeps are what the host gives every sink it builds.
type SinkDeps struct {
	// Name is the sink's name in the configuration: its metric label and
	// the name routes use.
	Name string
	// Registerer receives the sink's metrics; nil: none.
	Registerer prometheus.Registerer
	// Log is the host's logger; nil: discard.
	Log *slog.Logger
	// Getenv reads the environment, for settings such as secret_env that
	// name an environment variable instead of holding a secret. nil: an
	// empty environment.
	Getenv func(string) string
	// DatabaseURL is the host's own database (the worker's
	// --database-url), the default of sinks that write to a database; ""
	// when it has none.
	DatabaseURL string
}

// Env returns the environment variable name through Getenv; "" without
// Getenv.
func (d SinkDeps) Env(name string) string {
	if d.Getenv == nil {
		return ""
	}
	return d.Getenv(name)
}

// SinkHeader is what every sink entry of a configuration has besides its
// type's own fields.
type SinkHeader struct {
	Name string `yaml:"name" json:"name"`
	Type string `yaml:"type" json:"type"`
}

// DecodeSpec decodes a sink entry with unmarshal (see SinkType.Decode) into
// a copy of defaults, a struct whose fields carry yaml tags, and returns it.
// The entry's name and type are accepted and dropped; any other field that
// S does not have is an error.
func DecodeSpec[S any](unmarshal func(any) error, defaults S) (S, error) {
	v := struct {
		SinkHeader `yaml:",inline"`
		Spec       S `yaml:",inline"`
	}{Spec: defaults}
	err := unmarshal(&v)
	return v.Spec, err
}
