package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Response content types: rest-json answers application/json (spec A.1),
// awsJson1.1 answers its own media type (spec G.1).
const (
	contentTypeJSON    = "application/json"
	contentTypeAmzJSON = "application/x-amz-json-1.1"
)

// Response headers, spelled as AWS spells them. They are set as raw map keys
// (not canonicalized) so the wire bytes match AWS; clients compare header
// names case-insensitively, and net/http clients canonicalize them on read.
const (
	headerRequestID = "x-amzn-RequestId"
	headerErrorType = "x-amzn-ErrorType"
)

// wireError is an error answered by the wire layer itself (routing, body
// limits, query syntax), with its code and status fixed here rather than in
// the domain table.
type wireError struct {
	code    string
	status  int
	message string
	allow   string // the Allow header of a 405
}

func (e *wireError) Error() string { return e.code + ": " + e.message }

func (h *handler) setHeaders(w http.ResponseWriter, x *exchange) {
	hd := w.Header()
	hd.Set("Content-Type", x.contentType)
	hd[headerRequestID] = []string{x.requestID}
	// net/http's server adds Date itself, but only when nothing set it;
	// setting it here also covers other ResponseWriters (recorders, proxies).
	// JS v2 corrects clock skew from it (spec A.2).
	hd.Set("Date", time.Now().UTC().Format(http.TimeFormat))
}

func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, x *exchange, out any) {
	b, err := json.Marshal(out)
	if err != nil {
		h.writeError(w, r, x, fmt.Errorf("encode %s output: %w", x.op, err))
		return
	}
	h.setHeaders(w, x)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	x.status, x.code, x.wrote = http.StatusOK, "OK", true
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// writeError answers err the AWS way (spec A.5, G.1): the code in both the
// x-amzn-ErrorType header and the __type member, the text in message.
// Unexpected errors are logged and answered with a generic message.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, x *exchange, err error) {
	var (
		code, msg string
		status    int
		ok        bool
	)
	var we *wireError
	if errors.As(err, &we) {
		code, status, msg, ok = we.code, we.status, we.message, true
	} else {
		code, status, msg, ok = ErrorCode(err)
	}
	if !ok {
		h.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String(logOperation, x.op), slog.String(logRequestID, x.requestID),
			slog.String(logIdentityPool, x.pool), slog.Any(logErr, err))
	}
	b, mErr := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{code, msg})
	if mErr != nil { // unreachable: two strings always marshal
		b = []byte(`{"__type":"InternalErrorException","message":"An internal error occurred."}`)
	}
	h.setHeaders(w, x)
	hd := w.Header()
	hd[headerErrorType] = []string{code}
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	if status == http.StatusMethodNotAllowed && we != nil && we.allow != "" {
		hd.Set("Allow", we.allow)
	}
	x.status, x.code, x.wrote = status, code, true
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newRequestID returns a random (version 4) UUID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24 (it crashes the program instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// decodeBody decodes a JSON request body into v. An empty (or blank) body and
// null are {}; unknown members are ignored (spec A.3). Every decoding failure
// is a *syncapi.SerializationError (SerializationException 400), worded
// without Go type names.
//
// encoding/json matches member names case-insensitively, where AWS is
// case-sensitive; SDKs always send the model's spelling, so this only makes
// the server more lenient.
func decodeBody(body []byte, v any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil
	}
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var (
		se  *syncapi.SerializationError
		ute *json.UnmarshalTypeError
		syn *json.SyntaxError
	)
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &ute):
		if ute.Field == "" {
			return &syncapi.SerializationError{Reason: "the request body must be a JSON object, not " + ute.Value}
		}
		return &syncapi.SerializationError{Reason: fmt.Sprintf("member %s: cannot accept a JSON %s", ute.Field, ute.Value)}
	case errors.As(err, &syn):
		return &syncapi.SerializationError{Reason: fmt.Sprintf("malformed JSON at offset %d", syn.Offset)}
	default:
		return &syncapi.SerializationError{Reason: "malformed JSON request body"}
	}
}
