// Command syncd is a self-hosted Amazon Cognito Sync server. See --help.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/cognitosync/cognitosync/internal/cliconfig"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/auth"
	"github.com/cognitosync/cognitosync/syncapi/gc"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
	"github.com/cognitosync/cognitosync/syncapi/trigger"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "syncd:", err)
		os.Exit(1)
	}
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	return cliconfig.NewLogger(c.LogLevel, c.LogFormat, w)
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
	log := newLogger(c, stderr)

	url := c.StoreURL
	if url == "" {
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		url = filepath.Join(c.DataDir, "syncd.db")
	}
	store, err := sqlstore.Open(ctx, sqlstore.Config{URL: url, Log: log, MaxBytes: c.SQLiteMaxBytes})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()
	log.Info("store opened", "store", redactURL(url))

	if len(c.DeveloperKeys) == 0 {
		id, secret := "AKID"+strings.ToUpper(randHex(8)), randHex(20)
		c.DeveloperKeys[id] = secret
		log.Warn("no --developer-key given; generated developer credentials for this run",
			"access_key_id", id, "secret_access_key", secret)
	}

	reg := prometheus.NewRegistry()
	lambdaInvoker, err := newTriggerInvoker(ctx, c)
	if err != nil {
		return err
	}
	invoker, err := trigger.Instrument(lambdaInvoker, reg)
	if err != nil {
		return err
	}
	owner := processOwner()
	stream, err := newStreaming(ctx, c, store, owner, reg, log) // stream.go
	if err != nil {
		return err
	}
	var bulk syncapi.BulkRunner
	if stream != nil {
		bulk = stream.bulk
	}
	svc, err := syncapi.NewService(syncapi.ServiceConfig{
		Owner:         owner,
		Bulk:          bulk,
		Store:         store,
		Region:        c.Region,
		Limits:        syncapi.Limits{MaxDatasets: c.MaxDatasets, MaxRecords: c.MaxRecords, MaxDatasetBytes: c.MaxDatasetBytes},
		SessionTTL:    c.SessionTTL,
		CredentialTTL: c.CredentialTTL,
		Log:           log,
		Trigger:       invoker,
	})
	if err != nil {
		return err
	}
	if err := ensurePools(ctx, svc, c, log); err != nil {
		return err
	}

	authn, err := auth.New(auth.Config{
		Developers: c.DeveloperKeys, AccountID: c.AccountID, Issued: store, Regions: []string{c.Region},
		CacheSize: c.CredentialCacheSize,
	})
	if err != nil {
		return err
	}
	collector, err := gc.New(gc.Config{
		Store: store, Leases: store, Interval: c.GCInterval, IdentityTTL: c.GuestIdentityTTL, Log: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api, err := httpapi.NewHandler(httpapi.Config{Sync: svc, Identity: svc, Auth: authn, Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	ops := opsMux(reg, store)
	mux := http.NewServeMux()
	mux.Handle("/metrics", ops)
	mux.Handle("/healthz", ops)
	mux.Handle("/", api)

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	servers := []*http.Server{{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}}
	listeners := []net.Listener{ln}
	if c.MetricsListen != "" {
		mln, err := net.Listen("tcp", c.MetricsListen)
		if err != nil {
			return fmt.Errorf("listen for metrics: %w", err)
		}
		servers = append(servers, &http.Server{Handler: ops, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, mln)
		log.Info("serving metrics", "addr", mln.Addr().String())
	}
	log.Info("syncd listening", "addr", ln.Addr().String(), "region", c.Region,
		"endpoint", "http://"+ln.Addr().String())

	g, gctx := errgroup.WithContext(ctx)
	for i, srv := range servers {
		g.Go(func() error {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error { return svc.Run(gctx, time.Second) })
	g.Go(func() error { return collector.Run(gctx) })
	if stream != nil {
		g.Go(func() error { return stream.forwarder.Run(gctx) })
		g.Go(func() error { return stream.bulk.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "timeout", c.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), c.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			if err := srv.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown: in-flight requests did not finish within --shutdown-timeout %s: %w", c.ShutdownTimeout, err))
			}
		}
		return errors.Join(errs...)
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// healthChecker is a store that can tell whether writes commit
// (sqlstore.DB.CheckHealth).
type healthChecker interface {
	CheckHealth(ctx context.Context) error
}

// opsMux serves /metrics and /healthz. /healthz answers 503 while the store
// cannot commit writes (database unreachable, disk full), 200 otherwise.
func opsMux(reg *prometheus.Registry, store syncapi.Store) http.Handler {
	m := http.NewServeMux()
	m.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	m.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var err error
		if hc, ok := store.(healthChecker); ok {
			err = hc.CheckHealth(ctx)
		} else {
			_, err = store.ListPools(ctx, "", 1)
		}
		if err != nil {
			http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return m
}

// ensurePools creates the --pool pools that do not exist yet.
func ensurePools(ctx context.Context, svc *syncapi.Service, c Config, log *slog.Logger) error {
	dev := syncapi.WithCaller(ctx, syncapi.Caller{Developer: true, AccountID: c.AccountID})
	for _, id := range c.Pools {
		_, err := svc.CreateIdentityPool(dev, syncapi.IdentityPool{
			IdentityPoolName:               "syncd",
			AllowUnauthenticatedIdentities: true,
			IdentityPoolTags:               map[string]string{syncapi.PoolIDTag: id},
		})
		switch {
		case err == nil:
			log.Info("identity pool created", "identity_pool", id)
		case errors.Is(err, syncapi.ErrConflict):
			log.Info("identity pool exists", "identity_pool", id)
		default:
			return fmt.Errorf("--pool %s: %w", id, err)
		}
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// redactURL hides a password in a store URL for logs.
func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme > 0 && scheme < at {
			cred := u[scheme+3 : at]
			if user, _, ok := strings.Cut(cred, ":"); ok {
				return u[:scheme+3] + user + ":***" + u[at:]
			}
		}
	}
	return u
}

// newTriggerInvoker builds the Lambda client SyncTrigger functions are
// invoked with: the standard AWS configuration chain, with --lambda-endpoint
// as its base endpoint when set. A local endpoint (the emulator) ignores
// signatures, so when the chain has no credentials there, placeholder ones
// are used. No retries: a throttled or failed call answers the sync at once,
// within the 5 s trigger limit.
func newTriggerInvoker(ctx context.Context, c Config) (*trigger.LambdaInvoker, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return nil, fmt.Errorf("lambda client: %w", err)
	}
	if c.LambdaEndpoint != "" {
		chain := cfg.Credentials
		cfg.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
			if chain != nil {
				if cr, err := chain.Retrieve(ctx); err == nil {
					return cr, nil
				}
			}
			return aws.Credentials{AccessKeyID: "syncd", SecretAccessKey: "syncd", Source: "syncd placeholder"}, nil
		}))
	}
	cl := lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if c.LambdaEndpoint != "" {
			o.BaseEndpoint = aws.String(c.LambdaEndpoint)
		}
		o.RetryMaxAttempts = 1
	})
	return trigger.NewLambdaInvoker(trigger.LambdaConfig{Client: cl, FunctionName: c.LambdaFunctionName})
}
