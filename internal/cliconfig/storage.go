package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// Storage holds where syncd keeps its data: SQLite in --data, or
// PostgreSQL at --store. syncd and `syncd import` define the same two
// flags through it, so an import writes where the server reads.
type Storage struct {
	DataDir  string
	StoreURL string
}

// Define declares --data and --store with the variables Prefix+"DATA" and
// Prefix+"STORE".
func (s *Storage) Define(fs *flag.FlagSet, env *Env, prefix string) {
	fs.StringVar(&s.DataDir, "data", env.String(prefix+"DATA", "./data"),
		fmt.Sprintf("directory for the SQLite database (created if missing); ignored with --store [%sDATA]", prefix))
	fs.StringVar(&s.StoreURL, "store", env.String(prefix+"STORE", ""),
		fmt.Sprintf("a postgres:// URL to keep data in PostgreSQL instead of SQLite; several syncd may share it [%sSTORE]", prefix))
}

// Validate reports a missing or malformed store setting.
func (s Storage) Validate() []error {
	var errs []error
	if s.StoreURL == "" && s.DataDir == "" {
		errs = append(errs, errors.New("set --data DIR (SQLite) or --store postgres://…"))
	}
	if s.StoreURL != "" && !strings.HasPrefix(s.StoreURL, "postgres://") && !strings.HasPrefix(s.StoreURL, "postgresql://") {
		errs = append(errs, fmt.Errorf("--store must be a postgres:// URL, got %q (for SQLite use --data)", s.StoreURL))
	}
	return errs
}
