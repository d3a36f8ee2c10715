// Package httplimit bounds what HTTP clients can hold on a server: open
// connections, the time to send a request and to take its response, the
// request body bytes held in memory at once, and what a graceful shutdown
// waits for.
//
// A server built by Guard.Server over a listener from Guard.Listener:
//
//   - accepts at most MaxConns connections at once (more wait in the kernel's
//     backlog); at the cap, connections that finish a request are closed
//     instead of kept alive, and an idle one is closed to admit a new one;
//   - gives a client ReadHeaderTimeout to send its request headers and
//     ReadTimeout to send the whole request, body included, and WriteTimeout
//     to take the response from its first byte (the handler's own work is not
//     timed here);
//   - holds at most MaxBodyBytesInFlight request body bytes across all
//     requests: those read, until the handler returns, and those a pending
//     read asks for (at most 32 KiB each, the buffer it reads into); a read
//     that would pass it waits, until the request's read deadline, for
//     others to finish (ErrBodyBudget then);
//   - on Shutdown, closes connections that have not sent a whole request and
//     cuts every request still sending its body (its reads fail with
//     os.ErrDeadlineExceeded) unless the handler vouched for its sender with
//     Trust, so shutdown waits for handlers at work and authenticated
//     uploads, never for an unauthenticated slow or stalled client.
//
// Bodies a handler never reads cost nothing here: the handler should refuse
// such requests before reading (see the wire layer) and close the connection.
package httplimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"
)

// Defaults of Config's zero fields.
const (
	DefaultMaxConns             = 4096
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultReadTimeout          = 30 * time.Second
	DefaultWriteTimeout         = 30 * time.Second
	DefaultIdleTimeout          = 2 * time.Minute
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxBodyBytesInFlight = 64 << 20
)

// ErrBodyBudget is returned by a request body's Read when MaxBodyBytesInFlight
// stayed exhausted until the request's read deadline. The server is busy, not
// the client wrong: answer it as throttling.
var ErrBodyBudget = errors.New("httplimit: too many request body bytes in flight")

// Config configures a Guard.
type Config struct {
	MaxConns             int           // open connections per listener; 0: DefaultMaxConns
	ReadHeaderTimeout    time.Duration // to send the request headers; 0: DefaultReadHeaderTimeout, at most ReadTimeout
	ReadTimeout          time.Duration // to send the whole request, body included; 0: DefaultReadTimeout
	WriteTimeout         time.Duration // to take the response, from its first byte; 0: DefaultWriteTimeout
	IdleTimeout          time.Duration // keep-alive between requests; 0: DefaultIdleTimeout
	MaxHeaderBytes       int           // request line and headers; 0: DefaultMaxHeaderBytes
	MaxBodyBytesInFlight int64         // request body bytes read and not yet released; 0: DefaultMaxBodyBytesInFlight

	Registerer prometheus.Registerer // nil: no metrics
	Log        *slog.Logger          // nil: discard
}

func (c *Config) setDefaults() {
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = min(DefaultReadHeaderTimeout, c.ReadTimeout)
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxBodyBytesInFlight == 0 {
		c.MaxBodyBytesInFlight = DefaultMaxBodyBytesInFlight
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("httplimit: MaxConns %d is negative", c.MaxConns))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout}, {"IdleTimeout", c.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("httplimit: %s %v is negative", d.name, d.v))
		}
	}
	if c.ReadHeaderTimeout > 0 && c.ReadTimeout > 0 && c.ReadHeaderTimeout > c.ReadTimeout {
		errs = append(errs, fmt.Errorf("httplimit: ReadHeaderTimeout %v is longer than ReadTimeout %v, which includes it", c.ReadHeaderTimeout, c.ReadTimeout))
	}
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("httplimit: MaxHeaderBytes %d is negative", c.MaxHeaderBytes))
	}
	if c.MaxBodyBytesInFlight < 0 {
		errs = append(errs, fmt.Errorf("httplimit: MaxBodyBytesInFlight %d is negative", c.MaxBodyBytesInFlight))
	}
	return errors.Join(errs...)
}

// Guard applies one Config to the servers and listeners it builds. It is safe
// for concurrent use; one Guard may serve several servers (the body budget is
// then shared).
type Guard struct {
	c       Config
	budget  *semaphore.Weighted
	metrics *metrics

	// stop is cancelled by the first Shutdown of a server of this Guard;
	// requests waiting for body budget give up then.
	stop     context.Context
	stopNow  context.CancelFunc
	stopping atomic.Bool

	mu        sync.Mutex
	conns     map[net.Conn]*connInfo
	receiving map[*body]struct{}
}

type connInfo struct {
	state http.ConnState
	since time.Time
	l     *listener // that accepted it; nil: not one of ours
}

// New returns a Guard, or the Config's validation error. It warns on c.Log
// when the process's open-file limit is below MaxConns.
func New(c Config) (*Guard, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(c.Registerer)
	if err != nil {
		return nil, err
	}
	g := &Guard{c: c, budget: semaphore.NewWeighted(c.MaxBodyBytesInFlight), metrics: m,
		conns: map[net.Conn]*connInfo{}, receiving: map[*body]struct{}{}}
	g.stop, g.stopNow = context.WithCancel(context.Background())
	if n, ok := openFileLimit(); ok && n < uint64(c.MaxConns)+256 {
		c.Log.Warn("the open-file limit leaves little room above the connection cap; raise it (ulimit -n) or lower the cap",
			"open_file_limit", n, "max_connections", c.MaxConns)
	}
	return g, nil
}

// Listener caps ln at MaxConns open connections (golang.org/x/net/netutil).
// Serve it with a server from Server, whose connection tracking closes idle
// connections when the cap is reached.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: netutil.LimitListener(ln, g.c.MaxConns), g: g, max: g.c.MaxConns}
}

// Server returns an http.Server for h with the Guard's timeouts and header
// limit, connection tracking (ConnState) and shutdown behaviour. Set its
// other fields (ErrorLog, BaseContext, …) as needed, but not ConnState.
func (g *Guard) Server(h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           g.Handler(h),
		ReadHeaderTimeout: g.c.ReadHeaderTimeout,
		ReadTimeout:       g.c.ReadTimeout,
		// WriteTimeout stays 0: net/http would count it from the end of the
		// request headers, handler included; responseWriter starts it at
		// the response's first byte instead.
		IdleTimeout:    g.c.IdleTimeout,
		MaxHeaderBytes: g.c.MaxHeaderBytes,
		ConnState:      g.connState,
	}
	srv.RegisterOnShutdown(g.cut)
	return srv
}

// Handler wraps h with the body budget, the write deadline and the shutdown
// cut. Server does this itself; Handler is for servers built otherwise.
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// net/http never resets a write deadline when WriteTimeout is 0; one
		// left by the previous request on this connection must not fail an
		// interim response (100 Continue) of this one.
		_ = rc.SetWriteDeadline(time.Time{})
		rw := &responseWriter{ResponseWriter: w, rc: rc, timeout: g.c.WriteTimeout}
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(rw, r)
			return
		}
		b := &body{g: g, src: r.Body, rc: rc, ctx: r.Context(), deadline: time.Now().Add(g.c.ReadTimeout), length: r.ContentLength}
		g.track(b)
		defer b.release()
		r.Body = b
		h.ServeHTTP(rw, r)
	})
}

// listener is a LimitListener that makes room at the cap by closing an idle
// connection before it waits.
type listener struct {
	net.Listener
	g    *Guard
	max  int
	open int // accepted and not closed; guarded by g.mu
}

func (l *listener) Accept() (net.Conn, error) {
	l.g.closeIdleAtCap(l)
	c, err := l.Listener.Accept()
	if err == nil {
		l.g.mu.Lock()
		l.g.conns[c] = &connInfo{state: http.StateNew, since: time.Now(), l: l}
		l.open++
		l.g.mu.Unlock()
	}
	return c, err
}

// connState tracks connections for the gauge, the cap and the shutdown cut.
func (g *Guard) connState(c net.Conn, s http.ConnState) {
	g.mu.Lock()
	ci := g.conns[c]
	switch s {
	case http.StateNew:
		if ci == nil { // accepted by a listener other than ours
			ci = &connInfo{}
			g.conns[c] = ci
		}
		ci.state, ci.since = s, time.Now()
		g.metrics.connOpened()
	case http.StateClosed, http.StateHijacked:
		if ci != nil {
			delete(g.conns, c)
			if ci.l != nil {
				ci.l.open--
			}
			g.metrics.connClosed()
		}
	default:
		if ci != nil {
			ci.state, ci.since = s, time.Now()
		}
	}
	// At the cap a connection that went idle is closed rather than kept:
	// keep-alive must not keep new clients waiting in the backlog.
	atCap := s == http.StateIdle && ci != nil && ci.l != nil && ci.l.open >= ci.l.max
	g.mu.Unlock()
	if atCap {
		c.Close()
	}
}

// closeIdleAtCap closes the longest-idle connection of a listener whose cap
// is reached, so that the next Accept need not wait for an idle timeout.
func (g *Guard) closeIdleAtCap(l *listener) {
	g.mu.Lock()
	if l.open < l.max {
		g.mu.Unlock()
		return
	}
	var oldest net.Conn
	var since time.Time
	for c, ci := range g.conns {
		if ci.l == l && ci.state == http.StateIdle && (oldest == nil || ci.since.Before(since)) {
			oldest, since = c, ci.since
		}
	}
	g.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

// cut runs when a server of this Guard shuts down (http.Server's
// RegisterOnShutdown): net/http waits for active connections, and that
// includes clients still sending headers or a body; cut ends those so that
// shutdown waits only for handlers at work.
func (g *Guard) cut() {
	g.stopping.Store(true)
	g.stopNow()
	now := time.Now()
	g.mu.Lock()
	var fresh []net.Conn
	for c, ci := range g.conns {
		if ci.state == http.StateNew {
			fresh = append(fresh, c)
		}
	}
	bodies := make([]*body, 0, len(g.receiving))
	for b := range g.receiving {
		bodies = append(bodies, b)
	}
	g.mu.Unlock()
	for _, c := range fresh {
		c.Close()
	}
	cut := 0
	for _, b := range bodies {
		if b.cut(now) {
			cut++
		}
	}
	if len(fresh)+cut > 0 {
		g.metrics.cuts(reasonShutdown, len(fresh)+cut)
		g.c.Log.Info("shutdown: cut clients that had not sent their whole request",
			"connections_without_request", len(fresh), "unauthenticated_requests_sending_body", cut)
	}
}

func (g *Guard) track(b *body) {
	g.mu.Lock()
	g.receiving[b] = struct{}{}
	g.mu.Unlock()
	if g.stopping.Load() {
		b.cut(time.Now())
	}
}

func (g *Guard) untrack(b *body) {
	g.mu.Lock()
	delete(g.receiving, b)
	g.mu.Unlock()
}

// chunk is the most body bytes one Read takes from the budget at once, so
// that a large body holds budget only for what has arrived.
const chunk = 32 << 10

// body is a request body read under the budget. Budget taken for bytes read
// is held until the handler returns (the handler keeps them in memory).
type body struct {
	g        *Guard
	src      io.ReadCloser
	rc       *http.ResponseController
	ctx      context.Context
	deadline time.Time
	length   int64 // Content-Length; -1: unknown

	mu       sync.Mutex // guards done, trusted, released and the ResponseController after release
	held     int64      // only the handler's goroutine reads the body
	done     bool       // EOF, error or Close: no longer receiving
	trusted  bool       // Trust: a shutdown lets it finish
	released bool
}

// Trust marks rc, a request's Body under a Guard's handler, as sent by a
// caller the handler has authenticated: a shutdown then lets it finish
// (within the server's shutdown timeout) instead of cutting it. Call it
// before reading the body; other bodies are ignored.
func Trust(rc io.ReadCloser) {
	if b, ok := rc.(*body); ok {
		b.mu.Lock()
		b.trusted = true
		b.mu.Unlock()
	}
}

func (b *body) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return b.src.Read(p)
	}
	if len(p) > chunk {
		p = p[:chunk]
	}
	if b.length >= 0 && int64(len(p)) > b.length-b.held {
		// Never ask for more than the announced body still holds; at its
		// end the read only reports EOF.
		p = p[:max(b.length-b.held, 0)]
		if len(p) == 0 {
			return b.readEOF()
		}
	}
	want := int64(len(p))
	if !b.g.budget.TryAcquire(want) {
		if err := b.wait(want); err != nil {
			b.finish()
			return 0, err
		}
	}
	n, err := b.src.Read(p)
	if unused := want - int64(n); unused > 0 {
		b.g.budget.Release(unused)
	}
	b.held += int64(n)
	b.g.metrics.bodyBytes(float64(n))
	if err != nil {
		b.finish()
	}
	return n, err
}

// readEOF reads at the announced end of the body, where net/http answers EOF
// without touching the connection (a byte past Content-Length is never
// returned, so nothing needs budget).
func (b *body) readEOF() (int, error) {
	var one [1]byte
	n, err := b.src.Read(one[:])
	if n > 0 {
		err = errors.New("httplimit: request body longer than its Content-Length")
	}
	if err != nil {
		b.finish()
	}
	return 0, err
}

// wait takes n bytes of budget, waiting until the request's read deadline
// or the Guard's shutdown.
func (b *body) wait(n int64) error {
	ctx, cancel := context.WithDeadline(b.ctx, b.deadline)
	defer cancel()
	b.mu.Lock()
	trusted := b.trusted
	b.mu.Unlock()
	if !trusted {
		stop := context.AfterFunc(b.g.stop, cancel)
		defer stop()
	}
	if err := b.g.budget.Acquire(ctx, n); err != nil {
		if !trusted && b.g.stop.Err() != nil {
			return fmt.Errorf("httplimit: request cut by shutdown: %w", os.ErrDeadlineExceeded)
		}
		b.g.metrics.cuts(reasonBodyBudget, 1)
		return ErrBodyBudget
	}
	return nil
}

func (b *body) Close() error {
	b.finish()
	return b.src.Close()
}

// finish marks the body as no longer receiving.
func (b *body) finish() {
	b.mu.Lock()
	already := b.done
	b.done = true
	b.mu.Unlock()
	if !already {
		b.g.untrack(b)
	}
}

// cut fails the body's pending and future reads at once, unless it is
// trusted; it reports whether it did.
func (b *body) cut(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || b.released || b.trusted {
		return false
	}
	// The ResponseController is only valid while the handler runs, which
	// released guards.
	_ = b.rc.SetReadDeadline(now)
	return true
}

// release returns the budget when the handler returns.
func (b *body) release() {
	b.finish()
	b.mu.Lock()
	b.released = true
	b.mu.Unlock()
	if b.held > 0 {
		b.g.budget.Release(b.held)
		b.g.metrics.bodyBytes(-float64(b.held))
		b.held = 0
	}
}

// responseWriter starts the write deadline at the response's first byte.
type responseWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func (w *responseWriter) start() {
	if !w.started {
		w.started = true
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *responseWriter) WriteHeader(code int) {
	w.start()
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(p)
}

// Flush lets handlers that type-assert http.Flusher keep streaming.
func (w *responseWriter) Flush() {
	w.start()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
