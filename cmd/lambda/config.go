package main

import (
	"errors"
	"fmt"
)

// Config is the function's configuration, from the environment only (a
// Lambda function has no flags).
type Config struct {
	Rules        []byte // SYNCTRIGGER_RULES, or the file SYNCTRIGGER_RULES_FILE names
	SyncEndpoint string // SYNCTRIGGER_SYNC_ENDPOINT: syncd's URL; "": AWS Cognito Sync of AWS_REGION
	LogLevel     string // SYNCTRIGGER_LOG_LEVEL: debug, info, warn, error
}

// loadConfig reads the environment through getenv and readFile.
func loadConfig(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	c := Config{
		SyncEndpoint: getenv("SYNCTRIGGER_SYNC_ENDPOINT"),
		LogLevel:     getenv("SYNCTRIGGER_LOG_LEVEL"),
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
	return c, errors.Join(errs...)
}
