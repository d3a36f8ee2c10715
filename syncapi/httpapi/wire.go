package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

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

// decodeBody decodes a JSON request body into v the way AWS's JSON protocols
// read one (spec A.3, G.1): member names match the model's exactly (case
// included), so a differently spelt member is an unknown one, and unknown
// members are ignored; a member named twice in one object, and invalid UTF-8
// anywhere (escaped lone surrogates included), are SerializationException.
// An empty (or blank) body and null are {}. Every decoding failure is a
// *syncapi.SerializationError (SerializationException 400), worded without Go
// type names.
//
// encoding/json (v1) matches names case-insensitively, takes the last of
// duplicates and replaces invalid UTF-8 with U+FFFD; the JSON v2 semantics
// (github.com/go-json-experiment/json, the module behind encoding/json/v2)
// are AWS's by default.
func decodeBody(body []byte, v any) error {
	b := bytes.Trim(body, " \t\r\n")
	if len(b) == 0 {
		return nil
	}
	if !utf8.Valid(b) {
		return &syncapi.SerializationError{Reason: "the request body is not valid UTF-8"}
	}
	err := jsonv2.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var (
		se  *syncapi.SerializationError
		sem *jsonv2.SemanticError
		syn *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, jsontext.ErrDuplicateName):
		where := "the request body"
		if errors.As(err, &syn) && syn.JSONPointer != "" {
			where = "member " + sanitize(string(syn.JSONPointer))
		}
		return &syncapi.SerializationError{Reason: "duplicate member name in " + where}
	case errors.As(err, &syn):
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return &syncapi.SerializationError{Reason: "malformed JSON: unexpected end of the request body"}
		}
		return &syncapi.SerializationError{Reason: fmt.Sprintf("malformed JSON at offset %d", syn.ByteOffset)}
	case errors.As(err, &sem):
		kind := jsonKind(sem.JSONKind)
		if sem.JSONPointer == "" {
			return &syncapi.SerializationError{Reason: "the request body must be a JSON object, not " + kind}
		}
		return &syncapi.SerializationError{Reason: fmt.Sprintf("member %s: cannot accept a JSON %s", sanitize(string(sem.JSONPointer)), kind)}
	default:
		return &syncapi.SerializationError{Reason: "malformed JSON request body"}
	}
}

// jsonKind names a JSON kind in messages.
func jsonKind(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	default:
		return "value"
	}
}
