package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Authenticator authenticates a signed request for a signing service
// ("cognito-sync" or "cognito-identity"). body is the whole request body,
// already read; r.Body is a fresh reader over the same bytes. It returns
// *syncapi.AuthError for authentication failures. Implementations must be safe
// for concurrent use.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte, service string) (syncapi.Caller, error)
}

// Config configures NewHandler.
type Config struct {
	Sync         syncapi.SyncAPI       // required
	Identity     syncapi.IdentityAPI   // required
	Auth         Authenticator         // required
	Log          *slog.Logger          // nil: discard
	Registerer   prometheus.Registerer // nil: no metrics
	MaxBodyBytes int64                 // 0: 8 MiB
}

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 8 << 20

func (c *Config) setDefaults() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Validate reports every missing or invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Sync == nil {
		errs = append(errs, errors.New("httpapi: Sync is required"))
	}
	if c.Identity == nil {
		errs = append(errs, errors.New("httpapi: Identity is required"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("httpapi: Auth is required"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("httpapi: MaxBodyBytes %d is negative", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Log keys of the access log and of error logs.
const (
	logOperation    = "operation"
	logIdentityPool = "identity_pool"
	logStatus       = "status"
	logCode         = "code"
	logDuration     = "duration"
	logRequestID    = "request_id"
	logMethod       = "method"
	logErr          = "err"
)

// opUnknown is the operation label of requests that match no operation.
const opUnknown = "unknown"

// NewHandler returns the http.Handler that serves the Cognito Sync rest-json
// API (every path under /identitypools, spec A) and the Cognito Identity
// subset (POST / with X-Amz-Target, spec G) on one listener. The handler is
// safe for concurrent use. It registers its metrics with c.Registerer, reusing
// collectors already registered under the same names.
func NewHandler(c Config) (http.Handler, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rt, err := newRouter(Operations)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(c.Registerer)
	if err != nil {
		return nil, err
	}
	return &handler{
		sync:     c.Sync,
		identity: c.Identity,
		auth:     c.Auth,
		log:      c.Log,
		metrics:  m,
		maxBody:  c.MaxBodyBytes,
		router:   rt,
	}, nil
}

type handler struct {
	sync     syncapi.SyncAPI
	identity syncapi.IdentityAPI
	auth     Authenticator
	log      *slog.Logger
	metrics  *metrics
	maxBody  int64
	router   *router
}

// exchange is the state of one request, shared by the dispatchers and the
// deferred logging/metrics code.
type exchange struct {
	requestID   string
	op          string // metrics/log label; opUnknown until routed
	pool        string
	contentType string
	status      int
	code        string // "OK" or the AWS error code
	wrote       bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &exchange{requestID: newRequestID(), op: opUnknown, contentType: contentTypeJSON}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String(logOperation, x.op), slog.String(logRequestID, x.requestID),
				slog.Any(logErr, p), slog.String("stack", string(debug.Stack())))
			if !x.wrote {
				h.writeError(w, r, x, errInternalPanic)
			}
		}
		d := time.Since(start)
		h.metrics.observe(x.op, x.code, d)
		if h.log.Enabled(r.Context(), slog.LevelDebug) {
			h.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String(logOperation, x.op), slog.String(logIdentityPool, x.pool),
				slog.String(logMethod, r.Method), slog.Int(logStatus, x.status),
				slog.String(logCode, x.code), slog.Duration(logDuration, d),
				slog.String(logRequestID, x.requestID))
		}
	}()

	if isIdentityPath(r.URL.EscapedPath()) {
		x.contentType = contentTypeAmzJSON
		out, err := h.serveIdentity(w, r, x)
		h.respond(w, r, x, out, err)
		return
	}
	out, err := h.serveSync(w, r, x)
	h.respond(w, r, x, out, err)
}

// errInternalPanic is what a recovered panic answers (never its text).
var errInternalPanic = fmt.Errorf("recovered panic: %w", syncapi.ErrInternal)

func (h *handler) respond(w http.ResponseWriter, r *http.Request, x *exchange, out any, err error) {
	if err != nil {
		h.writeError(w, r, x, err)
		return
	}
	h.writeJSON(w, r, x, out)
}

// readBody reads the whole body, at most h.maxBody bytes. r.Body is replaced
// by a reader over the bytes read, so an Authenticator may read it again.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > h.maxBody {
		return nil, errTooLarge(h.maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge(h.maxBody)
		}
		return nil, &wireError{code: CodeSerialization, status: http.StatusBadRequest, message: "could not read the request body"}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

func errTooLarge(limit int64) error {
	return &wireError{code: CodeRequestTooLarge, status: http.StatusRequestEntityTooLarge,
		message: fmt.Sprintf("request body exceeds %d bytes", limit)}
}

// authenticate runs the Authenticator and puts the caller into the context.
func (h *handler) authenticate(r *http.Request, body []byte, service string) (context.Context, error) {
	c, err := h.auth.Authenticate(r, body, service)
	if err != nil {
		return nil, err
	}
	return syncapi.WithCaller(r.Context(), c), nil
}
