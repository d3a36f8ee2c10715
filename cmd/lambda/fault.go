//go:build synctriggerfault

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// withFault makes the function misbehave as SYNCTRIGGER_FAULT says, so the
// Runtime Interface Emulator tests can show how syncd handles a crash, a
// timeout and bad output: "panic", "sleep:DURATION", "bad-output"; "":
// behave. It is compiled only with the build tag synctriggerfault, which
// only those tests use: the function people deploy has no such switch.
func withFault(h handler, getenv func(string) string) (handler, error) {
	fault := getenv("SYNCTRIGGER_FAULT")
	var sleep time.Duration
	if d, ok := strings.CutPrefix(fault, "sleep:"); ok {
		var err error
		if sleep, err = time.ParseDuration(d); err != nil {
			return nil, fmt.Errorf("SYNCTRIGGER_FAULT=%q: want sleep:DURATION", fault)
		}
		fault = "sleep"
	}
	switch fault {
	case "":
		return h, nil
	case "panic":
		return func(context.Context, syncapi.TriggerEvent) (json.RawMessage, error) {
			panic("SYNCTRIGGER_FAULT=panic")
		}, nil
	case "sleep":
		return func(ctx context.Context, ev syncapi.TriggerEvent) (json.RawMessage, error) {
			time.Sleep(sleep) // ignores ctx on purpose: a function that hangs
			return h(ctx, ev)
		}, nil
	case "bad-output":
		return func(context.Context, syncapi.TriggerEvent) (json.RawMessage, error) {
			return json.RawMessage(`"this is not a Cognito event"`), nil
		}, nil
	}
	return nil, fmt.Errorf("SYNCTRIGGER_FAULT=%q: want panic, sleep:DURATION or bad-output", fault)
}
