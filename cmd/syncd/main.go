// Command syncd is a self-hosted Amazon Cognito Sync server. See --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
	"github.com/cognitosync/cognitosync/internal/cliconfig"
	"github.com/cognitosync/cognitosync/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "syncd:", err)
		os.Exit(1)
	}
}

// run starts syncd and blocks until ctx ends, then shuts down gracefully.
// Guidance for the person at the terminal (--help, a generated developer
// key) goes to stdout; logs go to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "import" {
		return runImport(ctx, args[1:], getenv, stdout, stderr) // import.go
	}
	if len(args) > 0 && args[0] == "rotate-signing-key" {
		return rotateSigningKey(ctx, args[1:], getenv, stdout)
	}
	c, err := parseConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := cliconfig.NewLogger(c.LogLevel, c.LogFormat, stderr)

	if len(c.DeveloperKeys) == 0 {
		// The secret goes to the terminal once, never to the logs (which
		// are shipped and kept).
		k := server.NewDeveloperKey()
		c.DeveloperKeys = cliconfig.Keys{k}
		fmt.Fprintf(stdout, "syncd: no --developer-key given; developer credentials for this run:\n  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\nPass --developer-key ID:SECRET (or SYNCD_DEVELOPER_KEYS) to keep a key across restarts.\n", k.ID, k.Secret)
		log.Warn("no --developer-key given; generated developer credentials for this run (printed on stdout, not logged)",
			"access_key_id", k.ID)
	}
	// One AWS configuration (the standard chain) for the SyncTrigger's
	// Lambda client and the stream's Kinesis and S3 clients.
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return fmt.Errorf("aws configuration: %w", err)
	}
	sc := c.ServerConfig()
	sc.Listen, sc.MetricsListen = c.Listen, c.MetricsListen
	sc.StoreURL, sc.DataDir = c.StoreURL, c.DataDir
	sc.PoolStream = c.PoolStream
	sc.AWS, sc.ShutdownTimeout, sc.Log = &awsCfg, c.ShutdownTimeout, log
	if sc.Stream, err = newStream(c, awsCfg, log); err != nil { // stream.go
		return err
	}
	srv, err := server.New(ctx, sc)
	if err != nil {
		return err
	}
	defer srv.Close()
	if a := srv.MetricsAddr(); a != "" {
		log.Info("serving metrics", "addr", a)
	}
	log.Info("syncd listening", "addr", srv.Addr(), "region", c.Region, "endpoint", srv.Endpoint(), "version", buildinfo.Version())
	err = srv.Run(ctx)
	log.Info("stopped")
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
