package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cognitosync/cognitosync/pipeline"
)

// Spec is the sink's entry in the worker's configuration file:
//
//	{name: hook, type: webhook, url: "https://hooks.example.com/sync", secret_env: HOOK_SECRET}
//
// URL and one of Secret or SecretEnv are required; the limits default as in
// Config.
type Spec struct {
	URL string `yaml:"url"`
	// Secret is the HMAC key itself. Prefer SecretEnv, which keeps it out
	// of the file.
	Secret string `yaml:"secret,omitempty"`
	// SecretEnv names the environment variable that holds the HMAC key; it
	// wins over Secret.
	SecretEnv      string        `yaml:"secret_env,omitempty"`
	MaxBatch       int           `yaml:"max_batch,omitempty"`
	MaxAttempts    int           `yaml:"max_attempts,omitempty"`
	InitialBackoff time.Duration `yaml:"initial_backoff,omitempty"`
	MaxBackoff     time.Duration `yaml:"max_backoff,omitempty"`
	RetryBudget    time.Duration `yaml:"retry_budget,omitempty"`
}

// Type is the webhook sink's entry in the worker's table of sink types.
var Type = pipeline.SinkType{Name: "webhook", Decode: func(unmarshal func(any) error) (pipeline.SinkSpec, error) {
	return pipeline.DecodeSpec(unmarshal, Spec{})
}}

var _ pipeline.SinkSpec = Spec{}

func (s Spec) config(deps pipeline.SinkDeps) Config {
	secret := s.Secret
	if s.SecretEnv != "" {
		secret = deps.Env(s.SecretEnv)
	}
	return Config{URL: s.URL, Secret: []byte(secret), MaxBatch: s.MaxBatch, MaxAttempts: s.MaxAttempts,
		InitialBackoff: s.InitialBackoff, MaxBackoff: s.MaxBackoff, RetryBudget: s.RetryBudget,
		Name: deps.Name, Registerer: deps.Registerer}
}

// Validate reports what Config.Validate reports, naming secret_env when the
// variable it names is empty.
func (s Spec) Validate(deps pipeline.SinkDeps) error {
	c := s.config(deps)
	c.setDefaults()
	err := c.Validate()
	if s.SecretEnv != "" && len(c.Secret) == 0 {
		err = errors.Join(err, fmt.Errorf("webhook: secret_env: the environment variable %s is empty or unset", s.SecretEnv))
	}
	return err
}

// Build creates the sink (see New).
func (s Spec) Build(_ context.Context, deps pipeline.SinkDeps) (pipeline.Sink, error) {
	return New(s.config(deps))
}
