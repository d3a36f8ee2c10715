// Command lambda is the SyncTrigger function: an aws-lambda-go handler that
// applies the rules of SYNCTRIGGER_RULES (see package synctrigger) to each
// Cognito Sync event. Rules that use the sync API call syncd
// (SYNCTRIGGER_SYNC_ENDPOINT) or AWS Cognito Sync with credentials from the
// standard AWS chain (on Lambda: the execution role).
//
// Build for Lambda (provided.al2023, arm64):
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/lambda
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/synctrigger"
)

func main() {
	// A Lambda function gets no arguments; --version is for the person
	// who built it (the release stamps internal/buildinfo).
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.Version())
		return
	}
	h, err := setup(context.Background(), os.Getenv, os.ReadFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synctrigger:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// handler is what lambda.Start runs.
type handler func(ctx context.Context, ev syncapi.TriggerEvent) (json.RawMessage, error)

// setup loads the configuration and builds the handler.
func setup(ctx context.Context, getenv func(string) string, readFile func(string) ([]byte, error)) (handler, error) {
	c, err := loadConfig(getenv, readFile)
	if err != nil {
		return nil, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("SYNCTRIGGER_LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	api := client.NewFromConfig(awsCfg, func(o *client.Options) {
		if c.SyncEndpoint != "" {
			o.BaseEndpoint = aws.String(c.SyncEndpoint)
		}
		o.Logger = log
	})
	rules, err := synctrigger.Load(c.Rules, synctrigger.Options{API: api, Log: log})
	if err != nil {
		return nil, err
	}
	h := func(ctx context.Context, ev syncapi.TriggerEvent) (json.RawMessage, error) {
		out, err := rules.Handle(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
	return withFault(h, getenv)
}
