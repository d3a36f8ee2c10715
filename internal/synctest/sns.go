package synctest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// SNS is a loopback server speaking Amazon SNS' query protocol
// (form-encoded Action requests signed with SigV4, XML answers and
// errors) for the two calls push sync makes: CreatePlatformEndpoint and
// Publish. Endpoints of tokens marked Disable answer Publish with
// EndpointDisabled, as SNS does once a platform reported the token dead.
type SNS struct {
	URL string

	mu        sync.Mutex
	endpoints map[string]string // endpoint ARN -> application ARN | token
	created   []string          // application ARN | token, per CreatePlatformEndpoint
	disabled  map[string]bool
	published []SNSPublish
	bad       []string
}

// SNSPublish is one accepted Publish.
type SNSPublish struct{ TargetArn, Message, MessageStructure string }

// NewSNS starts the server until the test ends.
func NewSNS(t testing.TB) *SNS {
	f := &SNS{endpoints: map[string]string{}, disabled: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Disable makes SNS answer EndpointDisabled for token's endpoint.
func (f *SNS) Disable(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disabled[token] = true
}

// Created lists the CreatePlatformEndpoint calls as "applicationArn|token".
func (f *SNS) Created() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.created...)
}

// Published lists the accepted Publish calls.
func (f *SNS) Published() []SNSPublish {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SNSPublish(nil), f.published...)
}

// Bad lists requests that were not SNS query requests.
func (f *SNS) Bad() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bad...)
}

// EndpointArn is the ARN the server gives token's endpoint on platform.
func (f *SNS) EndpointArn(platform, token string) string {
	return "arn:aws:sns:us-east-1:123456789012:endpoint/" + platform + "/syncd-test/" + token
}

func (f *SNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || r.Form.Get("Version") != "2010-03-31" {
		f.bad = append(f.bad, fmt.Sprintf("%v %s", r.Header, r.Form))
	}
	w.Header().Set("Content-Type", "text/xml")
	switch r.Form.Get("Action") {
	case "CreatePlatformEndpoint":
		app, token := r.Form.Get("PlatformApplicationArn"), r.Form.Get("Token")
		parts := strings.Split(app, "/")
		if len(parts) < 3 || token == "" {
			snsError(w, 400, "InvalidParameter", "Invalid parameter: PlatformApplicationArn or Token")
			return
		}
		arn := f.EndpointArn(parts[1], token)
		f.endpoints[arn] = app + "|" + token
		f.created = append(f.created, app+"|"+token)
		fmt.Fprintf(w, `<CreatePlatformEndpointResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><CreatePlatformEndpointResult><EndpointArn>%s</EndpointArn></CreatePlatformEndpointResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></CreatePlatformEndpointResponse>`, arn)
	case "Publish":
		target := r.Form.Get("TargetArn")
		at, ok := f.endpoints[target]
		switch {
		case !ok:
			snsError(w, 404, "NotFound", "Endpoint does not exist")
			return
		case f.disabled[strings.SplitN(at, "|", 2)[1]]:
			snsError(w, 400, "EndpointDisabled", "Endpoint is disabled")
			return
		}
		f.published = append(f.published, SNSPublish{target, r.Form.Get("Message"), r.Form.Get("MessageStructure")})
		fmt.Fprint(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m1</MessageId></PublishResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></PublishResponse>`)
	default:
		snsError(w, 400, "InvalidAction", "unknown action")
	}
}

func snsError(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r3</RequestId></ErrorResponse>`, code, msg)
}
