package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/postgres"
	"github.com/cognitosync/cognitosync/sinks/webhook"
)

// buildSinks builds every configured sink; on error it closes the ones
// already built.
func buildSinks(ctx context.Context, cfgs []SinkConfig, reg prometheus.Registerer) (map[string]pipeline.Sink, error) {
	out := map[string]pipeline.Sink{}
	for _, sc := range cfgs {
		s, err := buildSink(ctx, sc, reg)
		if err != nil {
			closeSinks(out)
			return nil, fmt.Errorf("sink %q: %w", sc.Name, err)
		}
		out[sc.Name] = s
	}
	return out, nil
}

func buildSink(ctx context.Context, sc SinkConfig, reg prometheus.Registerer) (pipeline.Sink, error) {
	switch sc.Type {
	case "jsonl":
		return jsonl.New(jsonl.Config{Dir: sc.Dir, Prefix: sc.Prefix, MaxBytes: sc.MaxBytes, MaxAge: sc.MaxAge, Name: sc.Name, Registerer: reg})
	case "postgres":
		return postgres.New(ctx, postgres.Config{URL: sc.URL, Schema: sc.Schema, ChangeLog: sc.ChangeLog, Name: sc.Name, Registerer: reg})
	case "webhook":
		return webhook.New(webhook.Config{URL: sc.URL, Secret: []byte(sc.Secret), Name: sc.Name, Registerer: reg})
	}
	return nil, fmt.Errorf("unknown type %q", sc.Type)
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
