package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/httplimit"
	"github.com/cognitosync/cognitosync/syncapi"
)

// Authenticator authenticates signed requests in two steps, so that the body
// of a request whose headers already fail is never read (anyone can send
// one, and a body can be large and slow).
//
// Authenticate checks everything r's headers can prove for the signing
// service ("cognito-sync" or "cognito-identity") without reading r.Body, and
// that every header named in mustSign (lower case, e.g. "x-amz-target") is
// among the signed headers. It returns *syncapi.AuthError for authentication
// failures. On success the caller reads the body and calls the returned
// VerifyPayload with its SHA-256 to finish. Implementations must be safe for
// concurrent use.
type Authenticator interface {
	Authenticate(r *http.Request, service string, mustSign ...string) (VerifyPayload, error)
}

// VerifyPayload finishes an authentication once the request body has been
// read: sum is the SHA-256 of the whole body as received. It returns the
// caller, or *syncapi.AuthError.
type VerifyPayload func(sum [sha256.Size]byte) (syncapi.Caller, error)

// Config configures NewHandler.
type Config struct {
	Sync         syncapi.SyncAPI       // required
	Identity     syncapi.IdentityAPI   // required
	Auth         Authenticator         // required
	Log          *slog.Logger          // nil: discard
	Registerer   prometheus.Registerer // nil: no metrics
	MaxBodyBytes int64                 // 0: DefaultMaxBodyBytes
	// MaxUnsignedBodyBytes caps the body of the unsigned Cognito Identity
	// calls (GetId, GetCredentialsForIdentity): anyone may send those, and
	// their inputs are a pool or identity id and at most ten login tokens.
	// 0: DefaultMaxUnsignedBodyBytes.
	MaxUnsignedBodyBytes int64
	// AddressLimits throttle the unsigned Cognito Identity calls per client
	// address (TooManyRequestsException), keyed by operation name ("GetId",
	// "GetCredentialsForIdentity"); they are checked before the body is
	// read. A missing entry: unlimited.
	AddressLimits map[string]syncapi.RateLimiter
	// UnsignedReadTimeout, when set, is the time an unsigned Cognito
	// Identity call has to send its (small) body, from the end of its
	// headers: no real client needs long, and anyone may send one.
	UnsignedReadTimeout time.Duration
	// ClientAddressHeader names a request header, e.g. X-Forwarded-For, whose
	// last value is the client's address, for a server reachable only
	// through a proxy that sets it. "": the connection's peer address. An
	// IPv6 address counts as its /64 (one host's usual share).
	ClientAddressHeader string
}

// Body limits when Config.MaxBodyBytes and MaxUnsignedBodyBytes are 0.
const (
	DefaultMaxBodyBytes         = 8 << 20
	DefaultMaxUnsignedBodyBytes = 16 << 10
)

func (c *Config) setDefaults() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxUnsignedBodyBytes == 0 {
		c.MaxUnsignedBodyBytes = DefaultMaxUnsignedBodyBytes
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
	if c.MaxUnsignedBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("httpapi: MaxUnsignedBodyBytes %d is negative", c.MaxUnsignedBodyBytes))
	}
	if c.UnsignedReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("httpapi: UnsignedReadTimeout %v is negative", c.UnsignedReadTimeout))
	}
	for op := range c.AddressLimits {
		if o, ok := identityOps[op]; !ok || o.signed {
			errs = append(errs, fmt.Errorf("httpapi: AddressLimits: %q is not an unsigned Cognito Identity operation", op))
		}
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
		sync:            c.Sync,
		identity:        c.Identity,
		auth:            c.Auth,
		log:             c.Log,
		metrics:         m,
		maxBody:         c.MaxBodyBytes,
		maxUnsignedBody: c.MaxUnsignedBodyBytes,
		unsignedTimeout: c.UnsignedReadTimeout,
		addressLimits:   c.AddressLimits,
		addressHeader:   c.ClientAddressHeader,
		router:          rt,
	}, nil
}

type handler struct {
	sync            syncapi.SyncAPI
	identity        syncapi.IdentityAPI
	auth            Authenticator
	log             *slog.Logger
	metrics         *metrics
	maxBody         int64
	maxUnsignedBody int64
	unsignedTimeout time.Duration
	addressLimits   map[string]syncapi.RateLimiter
	addressHeader   string
	router          *router
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
	bodyRead    bool // readBody was called: whatever is left is net/http's to discard
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
	if !x.bodyRead && r.ContentLength != 0 {
		// Refused before its body was read (unknown route or operation, a
		// failed authentication, a throttle, a body over the limit): nothing
		// reads it now. net/http would otherwise drain up to 256 KiB of it,
		// as slowly as the client sends, after the response.
		dropBody(w)
	}
	if err != nil {
		h.writeError(w, r, x, err)
		return
	}
	h.writeJSON(w, r, x, out)
}

// dropBody makes net/http close the connection after the response instead of
// reading the rest of the request body.
func dropBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	// Connection: close skips the drain before the response; the read
	// deadline fails the one net/http tries when it closes the body.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// readBody reads the whole body, at most limit bytes, and its SHA-256 as it
// goes. Errors are AWS-shaped: 413 over the limit, 408 when the client did
// not send it in time, 429 when the server holds too many bodies already.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, x *exchange, limit int64) ([]byte, [sha256.Size]byte, error) {
	x.bodyRead = true
	if r.Body == nil || r.Body == http.NoBody {
		return nil, emptySHA256, nil
	}
	if r.ContentLength > limit {
		return nil, [sha256.Size]byte{}, errTooLarge(limit)
	}
	// Room for a known length and the read that sees EOF; an unknown or
	// large one grows as bytes arrive, so memory follows what was sent,
	// not what was announced.
	size := int64(512)
	if r.ContentLength > 0 {
		size = min(r.ContentLength+1, initialBodyBuffer)
	}
	buf := make([]byte, 0, size)
	sum := sha256.New()
	src := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		sum.Write(buf[len(buf) : len(buf)+n])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, [sha256.Size]byte{}, bodyReadError(err, limit)
		}
	}
	var s [sha256.Size]byte
	sum.Sum(s[:0])
	return buf, s, nil
}

// initialBodyBuffer bounds the buffer allocated before body bytes arrive.
const initialBodyBuffer = 32 << 10

var emptySHA256 = sha256.Sum256(nil)

func bodyReadError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errTooLarge(limit)
	case errors.Is(err, httplimit.ErrBodyBudget):
		return syncapi.Errorf(syncapi.ErrTooManyRequests, "The server is receiving too many request bodies at once; retry.")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &wireError{code: CodeRequestTimeout, status: http.StatusRequestTimeout,
			message: "The request body was not received in time."}
	default:
		return &wireError{code: CodeSerialization, status: http.StatusBadRequest, message: "could not read the request body"}
	}
}

func errTooLarge(limit int64) error {
	return &wireError{code: CodeRequestTooLarge, status: http.StatusRequestEntityTooLarge,
		message: fmt.Sprintf("request body exceeds %d bytes", limit)}
}

// authenticate checks r's signature for service, reading the body (at most
// h.maxBody bytes) only once the headers passed, and returns the body and a
// context carrying the caller.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request, x *exchange, service string, mustSign ...string) (context.Context, []byte, error) {
	verify, err := h.auth.Authenticate(r, service, mustSign...)
	if err != nil {
		return nil, nil, err
	}
	// A valid key holder's upload may finish during a graceful shutdown;
	// anyone else's is cut (internal/httplimit).
	httplimit.Trust(r.Body)
	body, sum, err := h.readBody(w, r, x, h.maxBody)
	if err != nil {
		return nil, nil, err
	}
	c, err := verify(sum)
	if err != nil {
		return nil, nil, err
	}
	return syncapi.WithCaller(r.Context(), c), body, nil
}
