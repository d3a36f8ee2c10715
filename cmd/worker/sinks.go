package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/postgres"
	"github.com/cognitosync/cognitosync/sinks/syncd"
	"github.com/cognitosync/cognitosync/sinks/watermill"
	"github.com/cognitosync/cognitosync/sinks/webhook"
)

// sinkTypes is every sink type the configuration file can name in type:,
// one per sink package. A new sink is one package and one line here.
var sinkTypes = []pipeline.SinkType{
	jsonl.Type,
	postgres.Type,
	webhook.Type,
	watermill.NATSType,
	syncd.Type,
}

func sinkType(name string) (pipeline.SinkType, bool) {
	for _, t := range sinkTypes {
		if t.Name == name {
			return t, true
		}
	}
	return pipeline.SinkType{}, false
}

func sinkTypeNames() string {
	var names []string
	for _, t := range sinkTypes {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// buildSinks builds every configured sink; on error it closes the ones
// already built.
func buildSinks(ctx context.Context, c Config, reg prometheus.Registerer, log *slog.Logger) (map[string]pipeline.Sink, error) {
	out := map[string]pipeline.Sink{}
	for _, e := range c.sinkEntries() {
		deps := c.sinkDeps(e.Name)
		deps.Registerer, deps.Log = reg, log.With("sink", e.Name)
		s, err := e.Spec.Build(ctx, deps)
		if err != nil {
			closeSinks(out)
			return nil, fmt.Errorf("sink %q: %w", e.Name, err)
		}
		out[e.Name] = s
	}
	return out, nil
}

func closeSinks(sinks map[string]pipeline.Sink) error {
	var errs []error
	for name, s := range sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close sink %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
