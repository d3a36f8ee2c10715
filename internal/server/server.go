// Package server assembles syncd, the self-hosted Cognito Sync service, in
// one place: the store, the sync service with its limits and TTLs, SigV4
// authentication, the rest-json wire handler with /metrics and /healthz, the
// SyncTrigger invoker, and, when the caller gives a stream, the outbox
// forwarder and the bulk publish runner. cmd/syncd, the worker's embedded
// mode and the test harness (internal/synctest) all build it with New, so
// each has every feature and each metric is registered once, in the one
// registry of the process.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/cognitosync/cognitosync/internal/httplimit"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/auth"
	"github.com/cognitosync/cognitosync/syncapi/gc"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
	"github.com/cognitosync/cognitosync/syncapi/idtoken"
	"github.com/cognitosync/cognitosync/syncapi/push"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
	"github.com/cognitosync/cognitosync/syncapi/trigger"
)

// flushInterval is how often the service writes its buffered sync-session
// counts to the store.
const flushInterval = time.Second

// forwarderIdlePoll is how often an idle outbox forwarder looks for rows:
// a write through this server's API wakes it at once (wakeForwarder), so
// the poll only finds rows written by another syncd sharing the database,
// and an idle syncd stays idle.
const forwarderIdlePoll = time.Second

// Server is an assembled syncd. New builds it and listens; Run serves until
// its context ends; Close releases what New acquired. The accessors are safe
// for concurrent use.
type Server struct {
	c         Config
	store     syncapi.Store
	ownStore  *sqlstore.DB // opened by New, closed by Close
	svc       *syncapi.Service
	reg       *prometheus.Registry
	collector *gc.Collector     // nil when the store cannot be collected
	forwarder *outbox.Forwarder // nil without Stream
	push      *push.Dispatcher  // nil when the store has no push queue
	bulk      *outbox.BulkRunner
	guard     *httplimit.Guard // connection and request limits of every listener
	tokens    *idtoken.Tokens  // nil when the store keeps no logins
	// rawListeners are opened and not yet served (release closes them).
	rawListeners []net.Listener
	servers      []*http.Server
	listeners    []net.Listener

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc // of Run
	done    chan struct{}      // closed when Run returns

	closeOnce sync.Once
	closeErr  error
}

// New assembles the server, creates the configured pools and opens the
// listeners; nothing is served until Run. ctx bounds start-up only. On error
// everything New acquired is released.
func New(ctx context.Context, c Config) (*Server, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	s := &Server{c: c, store: c.Store, reg: c.Registry}
	ok := false
	defer func() {
		if !ok {
			s.release()
		}
	}()
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.store == nil {
		db, err := openStore(ctx, c)
		if err != nil {
			return nil, err
		}
		s.store, s.ownStore = db, db
	}

	invoker := c.Trigger
	if invoker == nil && c.AWS != nil {
		l, err := newLambdaInvoker(*c.AWS, c.LambdaEndpoint, c.LambdaFunctionName, c.Log.With("component", "trigger"))
		if err != nil {
			return nil, err
		}
		invoker = l
	}
	invoker, err := trigger.Instrument(invoker, s.reg)
	if err != nil {
		return nil, fmt.Errorf("trigger metrics: %w", err)
	}

	guests, err := c.Clients.guestLimits(s.reg)
	if err != nil {
		return nil, err
	}
	// The API listener opens first: its address is the default issuer of
	// syncd's OpenID tokens.
	apiLn, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	s.rawListeners = append(s.rawListeners, apiLn)
	tokens, err := s.newTokens(ctx, apiLn.Addr().String())
	if err != nil {
		return nil, err
	}
	var bulk syncapi.BulkRunner
	if c.Stream != nil {
		if err := s.newStreaming(); err != nil {
			return nil, err
		}
		bulk = s.bulk
	}
	var loginTokens syncapi.LoginTokens
	if tokens != nil {
		loginTokens = tokens
	}
	var deviceRegistered func(ctx context.Context, p syncapi.Pool, identityID, deviceID, platform, token string) error
	if err := s.newPush(ctx); err != nil {
		return nil, err
	}
	if s.push != nil {
		deviceRegistered = s.push.RegisterDevice
	}
	if s.svc, err = syncapi.NewService(syncapi.ServiceConfig{
		Store: s.store, Region: c.Region, Limits: c.Limits, SessionTTL: c.SessionTTL, CredentialTTL: c.CredentialTTL,
		Owner: c.Owner, Now: c.Now, Log: c.Log, Trigger: invoker, Bulk: bulk,
		GetIDLimit: guests.getIDPerPool, GetCredentialsLimit: guests.credentialsPerPool,
		Tokens: loginTokens, LoginFallback: loginFallback(c), // fallback.go
		DeviceRegistered: deviceRegistered,
	}); err != nil {
		return nil, err
	}
	if err := s.ensurePools(ctx); err != nil {
		return nil, err
	}

	keys := make(map[string]string, len(c.DeveloperKeys))
	for _, k := range c.DeveloperKeys {
		keys[k.ID] = k.Secret
	}
	authn, err := auth.New(auth.Config{
		Developers: keys, AccountID: c.AccountID, Issued: s.store, Regions: []string{c.Region}, Now: c.Now,
		CacheSize: c.CredentialCacheSize,
	})
	if err != nil {
		return nil, err
	}
	if gs, ok := s.store.(collectable); ok {
		if s.collector, err = gc.New(gc.Config{
			Store: gs, Leases: gs, Interval: c.GCInterval, IdentityTTL: c.GuestIdentityTTL,
			Now: c.Now, Log: c.Log.With("component", "gc"), Registerer: s.reg,
		}); err != nil {
			return nil, err
		}
	}
	cl := c.Clients
	api, err := httpapi.NewHandler(httpapi.Config{Sync: s.svc, Identity: s.svc, Auth: authn, Log: c.Log, Registerer: s.reg,
		MaxBodyBytes: cl.MaxBodyBytes, MaxUnsignedBodyBytes: cl.MaxUnsignedBodyBytes, UnsignedReadTimeout: cl.ReadHeaderTimeout,
		AddressLimits: guests.perAddress, ClientAddressHeader: cl.ClientAddressHeader})
	if err != nil {
		return nil, err
	}
	if s.guard, err = cl.guard(s.reg, c); err != nil {
		return nil, err
	}
	ops := s.opsHandler()
	mux := http.NewServeMux()
	mux.Handle("/metrics", ops)
	mux.Handle("/healthz", ops)
	mux.Handle("/", s.wakeForwarder(api))
	if s.tokens != nil {
		mux.Handle("GET /.well-known/", s.tokens.Handler())
	}
	s.rawListeners = nil // the server owns it now
	s.serve(apiLn, mux)
	if c.MetricsListen != "" {
		if err := s.listen(c.MetricsListen, ops); err != nil {
			return nil, fmt.Errorf("listen for metrics on %s: %w", c.MetricsListen, err)
		}
	}
	ok = true
	return s, nil
}

// newTokens builds syncd's token issuer and login verifier when the store
// keeps logins; addr is the API listener's, for the default PublicURL.
func (s *Server) newTokens(ctx context.Context, addr string) (*idtoken.Tokens, error) {
	ls, ok := s.store.(syncapi.LoginStore)
	if !ok {
		return nil, nil
	}
	l := s.c.Logins
	public := l.PublicURL
	if public == "" {
		public = "http://" + addr
	}
	t, err := idtoken.New(ctx, idtoken.Config{
		Store: ls, PublicURL: public, Providers: l.OIDCProviders, GoogleIssuer: l.GoogleIssuer, AppleIssuer: l.AppleIssuer,
		CognitoIDPURL: l.CognitoIDPURL, HTTPClient: l.HTTPClient, MinRefetch: l.MinRefetch, Now: s.c.Now,
		Log: s.c.Log.With("component", "logins"),
	})
	if err != nil {
		return nil, fmt.Errorf("logins: %w", err)
	}
	s.tokens = t
	return t, nil
}

// Tokens is the token issuer and login verifier; nil when the store keeps
// no logins.
func (s *Server) Tokens() *idtoken.Tokens { return s.tokens }

// openStore opens PostgreSQL at c.StoreURL or SQLite in c.DataDir.
func openStore(ctx context.Context, c Config) (*sqlstore.DB, error) {
	url := c.StoreURL
	if url == "" {
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		url = filepath.Join(c.DataDir, "syncd.db")
	}
	maxBytes := c.SQLiteMaxBytes
	if c.StoreURL != "" {
		maxBytes = 0 // a cap on a SQLite file only
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{URL: url, Log: c.Log, MaxBytes: maxBytes})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	c.Log.Info("store opened", "store", redactURL(url))
	return db, nil
}

// newStreaming builds the outbox forwarder and the bulk runner on c.Stream.
func (s *Server) newStreaming() error {
	c, st := s.c, s.c.Stream
	store := s.store.(streamStore) // checked by Validate, or *sqlstore.DB
	var err error
	if s.forwarder, err = outbox.NewForwarder(outbox.ForwarderConfig{
		Store: store, Publisher: st.Publisher, Offload: st.Offload, MaxRecordBytes: st.MaxRecordBytes, Poll: forwarderIdlePoll,
		Owner: c.Owner, Registerer: s.reg, Log: c.Log.With("component", "outbox"), Now: c.Now,
	}); err != nil {
		return err
	}
	s.bulk, err = outbox.NewBulkRunner(outbox.BulkConfig{
		Store: store, Publisher: st.Bulk, Offload: st.Offload, MaxRecordBytes: st.MaxRecordBytes,
		Owner: c.Owner, Registerer: s.reg, Log: c.Log.With("component", "bulk"), Now: c.Now,
	})
	return err
}

// newPush builds the push dispatcher when the store has a push queue.
func (s *Server) newPush(ctx context.Context) error {
	st, ok := s.store.(push.Store)
	if !ok {
		return nil
	}
	n, err := newNotifier(ctx, s.c) // push.go
	if err != nil {
		return err
	}
	p := s.c.Push
	s.push, err = push.New(push.Config{
		Store: st, Notifier: n, Owner: s.c.Owner, Coalesce: p.Coalesce, LeaseTTL: p.LeaseTTL, Backoff: p.Backoff,
		Registerer: s.reg, Log: s.c.Log.With("component", "push"), Now: s.c.Now,
	})
	return err
}

// wakeForwarder wakes the outbox forwarder and the push dispatcher after
// every successful request that may have written (any but GET and HEAD),
// so a change reaches the stream at once, and its notifications one
// coalescing window later, while both poll rarely when idle. With neither
// it returns h.
func (s *Server) wakeForwarder(h http.Handler) http.Handler {
	if s.forwarder == nil && s.push == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.status < 300 {
			s.Notify()
		}
	})
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Notify wakes the outbox forwarder and the push dispatcher, for
// in-process writes that did not go through the API (the worker's demo).
func (s *Server) Notify() {
	if s.forwarder != nil {
		s.forwarder.Notify()
	}
	if s.push != nil {
		s.push.Notify()
	}
}

// listen serves h on addr under the guard's connection and request limits
// (internal/httplimit holds the settings of every HTTP server syncd runs).
func (s *Server) listen(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.serve(ln, h)
	return nil
}

// serve serves h on ln under the guard's limits.
func (s *Server) serve(ln net.Listener, h http.Handler) {
	s.servers = append(s.servers, s.guard.Server(h))
	s.listeners = append(s.listeners, s.guard.Listener(ln))
}

// opsHandler serves /metrics and /healthz (200 while the store answers).
func (s *Server) opsHandler() http.Handler {
	m := http.NewServeMux()
	m.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	m.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Check(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return m
}

// healthChecker is a store that can tell whether writes commit
// (sqlstore.DB.CheckHealth).
type healthChecker interface {
	CheckHealth(ctx context.Context) error
}

// collectable is a store the garbage collector can run on, one process at
// a time (sqlstore.DB).
type collectable interface {
	gc.Store
	syncapi.Leases
}

// Check reports what /healthz says: whether the store commits writes (a
// store that cannot tell: whether it answers), within 3 s. A database that
// is unreachable or a full disk make it fail until they recover.
func (s *Server) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var err error
	if hc, ok := s.store.(healthChecker); ok {
		err = hc.CheckHealth(ctx)
	} else {
		_, err = s.store.ListPools(ctx, "", 1)
	}
	if err != nil {
		return fmt.Errorf("store unavailable: %w", err)
	}
	return nil
}

// Run serves the APIs (and /metrics) and runs the service's background
// work, the outbox forwarder and the bulk runner, until ctx ends or one of
// them fails; then in-flight requests get Config.ShutdownTimeout to finish.
// It returns nil after a clean shutdown. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running || s.closed {
		s.mu.Unlock()
		return errors.New("server: Run called twice or after Close")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.running, s.cancel, s.done = true, cancel, make(chan struct{})
	s.mu.Unlock()
	defer close(s.done)
	defer cancel()

	g, gctx := errgroup.WithContext(ctx)
	for i, srv := range s.servers {
		g.Go(func() error {
			if err := srv.Serve(s.listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error { return s.svc.Run(gctx, flushInterval) })
	if s.collector != nil {
		g.Go(func() error { return s.collector.Run(gctx) })
	}
	if s.push != nil {
		g.Go(func() error { return s.push.Run(gctx) })
	}
	if s.forwarder != nil {
		g.Go(func() error { return s.forwarder.Run(gctx) })
		g.Go(func() error { return s.bulk.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		s.c.Log.Info("shutting down", "timeout", s.c.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), s.c.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, srv := range s.servers {
			if err := srv.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown: in-flight requests did not finish within the shutdown timeout %s: %w", s.c.ShutdownTimeout, err))
			}
		}
		return errors.Join(errs...)
	})
	return g.Wait()
}

// Close stops a running Run (as if its context ended) and waits for it,
// closes the listeners, and closes the store if New opened it. It is
// idempotent; the store's close error is returned each time.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		cancel, done := s.cancel, s.done
		s.mu.Unlock()
		if cancel != nil {
			cancel()
			<-done
		}
		s.closeErr = s.release()
	})
	return s.closeErr
}

// release closes the listeners and the store New opened.
func (s *Server) release() error {
	for _, srv := range s.servers {
		srv.Close()
	}
	for _, ln := range s.listeners {
		ln.Close() // Serve closed it already, or Run never ran
	}
	for _, ln := range s.rawListeners {
		ln.Close()
	}
	if s.ownStore != nil {
		return s.ownStore.Close()
	}
	return nil
}

// Addr is the host:port the APIs are served on.
func (s *Server) Addr() string { return s.listeners[0].Addr().String() }

// Endpoint is the URL SDKs reach the APIs at: http://Addr.
func (s *Server) Endpoint() string { return "http://" + s.Addr() }

// MetricsAddr is the host:port of Config.MetricsListen; "" without it.
func (s *Server) MetricsAddr() string {
	if len(s.listeners) < 2 {
		return ""
	}
	return s.listeners[1].Addr().String()
}

// Push is the push dispatcher; nil when the store has no push queue.
func (s *Server) Push() *push.Dispatcher { return s.push }

// Service is the sync service, for in-process calls (with AsDeveloper, or
// syncapi.WithCaller).
func (s *Server) Service() *syncapi.Service { return s.svc }

// Store is the store the service runs on.
func (s *Server) Store() syncapi.Store { return s.store }

// Registry is the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// AsDeveloper returns ctx carrying the developer caller of the first
// developer key, for in-process calls of developer-only operations.
func (s *Server) AsDeveloper(ctx context.Context) context.Context {
	return syncapi.WithCaller(ctx, syncapi.Caller{
		Developer: true, AccountID: s.c.AccountID, AccessKeyID: s.c.DeveloperKeys[0].ID,
	})
}

// ensurePools creates the configured pools that do not exist yet and turns
// their stream on when PoolStream is set.
func (s *Server) ensurePools(ctx context.Context) error {
	dev := s.AsDeveloper(ctx)
	for _, id := range s.c.Pools {
		_, err := s.svc.CreateIdentityPool(dev, syncapi.IdentityPool{
			IdentityPoolName:               s.c.PoolName,
			AllowUnauthenticatedIdentities: true,
			IdentityPoolTags:               map[string]string{syncapi.PoolIDTag: id},
		})
		switch {
		case err == nil:
			s.c.Log.Info("identity pool created", "identity_pool", id)
		case errors.Is(err, syncapi.ErrConflict):
			s.c.Log.Info("identity pool exists", "identity_pool", id)
		default:
			return fmt.Errorf("create identity pool %s: %w", id, err)
		}
		if s.c.PoolStream == "" {
			continue
		}
		if _, err := s.svc.SetIdentityPoolConfiguration(dev, syncapi.PoolConfiguration{
			IdentityPoolID: id,
			CognitoStreams: &syncapi.CognitoStreams{
				StreamName: s.c.PoolStream, StreamingStatus: syncapi.StreamingEnabled,
				RoleArn: "arn:aws:iam::" + s.c.AccountID + ":role/cognitosync-embedded",
			},
		}); err != nil {
			return fmt.Errorf("turn the stream of identity pool %s on: %w", id, err)
		}
	}
	return nil
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
