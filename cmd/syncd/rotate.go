package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cognitosync/cognitosync/syncapi/idtoken"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// rotateSigningKey is `syncd rotate-signing-key`: it adds a new signing key
// for syncd's OpenID tokens to the store syncd uses (the same --data and
// --store, and their variables, as syncd itself) and prints its key id.
func rotateSigningKey(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, err := parseConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	url := c.StoreURL
	if url == "" {
		url = filepath.Join(c.DataDir, "syncd.db")
		if _, err := os.Stat(url); err != nil {
			return fmt.Errorf("rotate-signing-key: no syncd database at %s (pass the --data or --store syncd runs with): %w", url, err)
		}
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{URL: url})
	if err != nil {
		return fmt.Errorf("rotate-signing-key: open store: %w", err)
	}
	defer db.Close()
	kid, err := idtoken.RotateKey(ctx, db, time.Now())
	if err != nil {
		return fmt.Errorf("rotate-signing-key: %w", err)
	}
	fmt.Fprintf(stdout, "syncd: new signing key %s; running syncd sign with it within a minute, and the previous key keeps verifying.\n", kid)
	return nil
}
