// Package cliconfig holds what the commands share for reading configuration:
// environment-variable defaults for flags with their parse errors collected,
// the flags of the sync service that syncd and the worker's embedded mode
// both accept (Service), and the structured logger every binary builds from
// --log-level and --log-format. Only cmd/* use it; packages take plain
// Config structs.
package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Env reads flag defaults from environment variables. A value that does not
// parse keeps the default and is reported by Err, so a typo in an
// environment variable stops the program instead of being ignored.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv returns an Env over getenv (os.Getenv in main, a map in tests).
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// String returns the variable, or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// Duration parses the variable as a time.Duration.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a duration such as 30s or 1h", name, v))
		return def
	}
	return d
}

// Int parses the variable as a whole number.
func (e *Env) Int(name string, def int64) int64 {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a whole number", name, v))
		return def
	}
	return n
}

// Float parses the variable as a decimal number.
func (e *Env) Float(name string, def float64) float64 {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a number such as 25 or 0.5", name, v))
		return def
	}
	return f
}

// Bool parses the variable as a boolean; unset is false.
func (e *Env) Bool(name string) bool {
	v := e.getenv(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", name, v))
	}
	return b
}

// Value sets v from the variable when it is set (for list flags defined
// with ReplacingVar, whose command-line values then replace it).
func (e *Env) Value(name string, v flag.Value) {
	if s := e.getenv(name); s != "" {
		if err := v.Set(s); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: %w", name, err))
		}
	}
}

// Err joins every parse error seen so far.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// ValidateLog checks --log-level and --log-format values.
func ValidateLog(level, format string) []error {
	var errs []error
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", level))
	}
	if format != "text" && format != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be text or json, got %q", format))
	}
	return errs
}

// NewLogger returns the structured logger for a validated level and format.
func NewLogger(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level)) // checked by ValidateLog
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// List is a repeatable flag whose values may also be comma-separated.
// Register it with ListVar so that the command line replaces its default.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated values of v, trimmed, skipping empty ones.
func (l *List) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// ListVar defines the List flag name on fs with the comma-separated
// default def (e.g. from an environment variable). The first value given on
// the command line replaces the default; later ones add to it.
func ListVar(fs *flag.FlagSet, l *List, name, def, usage string) {
	*l = nil
	_ = l.Set(def)
	ReplacingVar(fs, l, func() { *l = nil }, name, usage)
}

// ReplacingVar defines a repeatable flag v whose current value (a default,
// or what an environment variable set) is dropped by reset at the first
// value given on the command line: a flag replaces its default and its
// environment variable, and repeated flags add to each other.
func ReplacingVar(fs *flag.FlagSet, v flag.Value, reset func(), name, usage string) {
	fs.Var(&replacing{v: v, reset: reset}, name, usage)
}

// replacing is a flag.Value that calls reset before its first Set.
type replacing struct {
	v     flag.Value
	reset func()
	set   bool
}

func (f *replacing) String() string {
	if f.v == nil {
		return ""
	}
	return f.v.String()
}

func (f *replacing) Set(v string) error {
	if !f.set {
		f.reset()
		f.set = true
	}
	return f.v.Set(v)
}
