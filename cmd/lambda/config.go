package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the function's configuration, from the environment only (a
// Lambda function has no flags).
type Config struct {
	Rules        []byte // SYNCTRIGGER_RULES, or the file SYNCTRIGGER_RULES_FILE names
	SyncEndpoint string // SYNCTRIGGER_SYNC_ENDPOINT: syncd's URL; "": AWS Cognito Sync of AWS_REGION
	LogLevel     string // SYNCTRIGGER_LOG_LEVEL: debug, info, warn, error
	// Fault makes the function misbehave on purpose, to test how the server
	// handles it: "panic", "sleep:DURATION", "bad-output". Never set it in
	// production. SYNCTRIGGER_FAULT.
	Fault      string
	FaultSleep time.Duration
}

// loadConfig reads the environment through getenv and readFile.
func loadConfig(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	c := Config{
		SyncEndpoint: getenv("SYNCTRIGGER_SYNC_ENDPOINT"),
		LogLevel:     getenv("SYNCTRIGGER_LOG_LEVEL"),
		Fault:        getenv("SYNCTRIGGER_FAULT"),
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	var errs []error
	inline, file := getenv("SYNCTRIGGER_RULES"), getenv("SYNCTRIGGER_RULES_FILE")
	switch {
	case inline != "" && file != "":
		errs = append(errs, errors.New("set SYNCTRIGGER_RULES or SYNCTRIGGER_RULES_FILE, not both"))
	case inline != "":
		c.Rules = []byte(inline)
	case file != "":
		b, err := readFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("SYNCTRIGGER_RULES_FILE: %w", err))
		}
		c.Rules = b
	default:
		c.Rules = []byte(`{"rules": []}`)
	}
	if f, ok := strings.CutPrefix(c.Fault, "sleep:"); ok {
		d, err := time.ParseDuration(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("SYNCTRIGGER_FAULT=%q: want sleep:DURATION", c.Fault))
		}
		c.Fault, c.FaultSleep = "sleep", d
	}
	switch c.Fault {
	case "", "panic", "sleep", "bad-output":
	default:
		errs = append(errs, fmt.Errorf("SYNCTRIGGER_FAULT=%q: want panic, sleep:DURATION or bad-output", c.Fault))
	}
	return c, errors.Join(errs...)
}
