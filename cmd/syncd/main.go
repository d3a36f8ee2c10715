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

	"github.com/cognitosync/cognitosync/internal/cliconfig"
	"github.com/cognitosync/cognitosync/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "syncd:", err)
		os.Exit(1)
	}
}

// run starts syncd and blocks until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := cliconfig.NewLogger(c.LogLevel, c.LogFormat, stderr)

	if len(c.DeveloperKeys) == 0 {
		k := server.NewDeveloperKey()
		c.DeveloperKeys = cliconfig.Keys{k}
		log.Warn("no --developer-key given; generated developer credentials for this run",
			"access_key_id", k.ID, "secret_access_key", k.Secret)
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
	log.Info("syncd listening", "addr", srv.Addr(), "region", c.Region, "endpoint", srv.Endpoint())
	err = srv.Run(ctx)
	log.Info("stopped")
	return err
}
