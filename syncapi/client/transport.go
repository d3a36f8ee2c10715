package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// operations indexes httpapi.Operations, the binding table the server
// router also reads, by name.
var operations = func() map[string]httpapi.Operation {
	m := make(map[string]httpapi.Operation, len(httpapi.Operations))
	for _, op := range httpapi.Operations {
		m[op.Name] = op
	}
	return m
}()

// call is one operation invocation before it is bound to HTTP.
type call struct {
	op     string
	labels map[string]string // path label → unescaped value
	query  url.Values        // only members that are set
	header http.Header       // extra headers (x-amz-Client-Context)
	body   any               // JSON body; nil: none for GET/DELETE, {} for POST
}

// invoke runs c through the retry loop and decodes a 2xx body into out
// (nil: discard). Errors are wrapped in a *smithy.OperationError.
func (c *Client) invoke(ctx context.Context, cl call, out any) error {
	if err := c.invokeRetry(ctx, cl, out); err != nil {
		return &smithy.OperationError{ServiceID: ServiceID, OperationName: cl.op, Err: err}
	}
	return nil
}

func (c *Client) invokeRetry(ctx context.Context, cl call, out any) error {
	if c.initErr != nil {
		return c.initErr
	}
	op, ok := operations[cl.op]
	if !ok {
		return fmt.Errorf("client: operation %s not in httpapi.Operations", cl.op)
	}
	target, err := c.buildURL(op, cl)
	if err != nil {
		return err
	}
	var payload []byte
	switch {
	case cl.body != nil:
		if payload, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	case op.Method == http.MethodPost:
		payload = []byte("{}") // spec A.3: body-less POSTs send {}
	}
	sum := sha256.Sum256(payload)
	payloadHash := hex.EncodeToString(sum[:])

	maxAttempts := c.retryer.MaxAttempts()
	releaseRetry := nopRelease
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		releaseAttempt, err := c.attemptToken(ctx)
		if err != nil {
			return fmt.Errorf("get retry attempt token: %w", err)
		}
		err = c.send(ctx, op, target, cl.header, payload, payloadHash, out)
		_ = releaseRetry(err)
		_ = releaseAttempt(err)
		if err == nil {
			return nil
		}
		c.log.DebugContext(ctx, "cognito-sync attempt failed", "operation", cl.op, "attempt", attempt, "error", err)
		c.noteExpiredCredentials(err)
		if !c.retryable(ctx, err) {
			return err
		}
		if maxAttempts > 0 && attempt >= maxAttempts {
			return &awsretry.MaxAttemptsError{Attempt: attempt, Err: err}
		}
		rel, tokErr := c.retryer.GetRetryToken(ctx, err)
		if tokErr != nil {
			return err // retry quota exhausted: report the service's error
		}
		releaseRetry = rel
		delay, delayErr := c.retryer.RetryDelay(attempt, err)
		if delayErr != nil {
			return err
		}
		c.log.DebugContext(ctx, "cognito-sync retrying", "operation", cl.op, "attempt", attempt+1, "delay", delay)
		if sleepErr := retry.Sleep(ctx, delay); sleepErr != nil {
			return fmt.Errorf("%w (retry abandoned: %w)", err, sleepErr)
		}
	}
}

// retryable applies the client's rule (4xx other than throttling is final;
// a done context is final) before asking the retryer.
func (c *Client) retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode < 500 && !ae.Throttling() {
		return false
	}
	return c.retryer.IsErrorRetryable(err)
}

// noteExpiredCredentials drops cached credentials the service reported as
// expired, so the next call retrieves fresh ones.
func (c *Client) noteExpiredCredentials(err error) {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != codeExpiredToken {
		return
	}
	if cc, ok := c.creds.(*aws.CredentialsCache); ok {
		cc.Invalidate()
	}
}

func (c *Client) attemptToken(ctx context.Context) (func(error) error, error) {
	if r, ok := c.retryer.(aws.RetryerV2); ok {
		return r.GetAttemptToken(ctx)
	}
	return c.retryer.GetInitialToken(), nil
}

func nopRelease(error) error { return nil }

// buildURL expands the path template with escaped labels and appends the
// query.
func (c *Client) buildURL(op httpapi.Operation, cl call) (string, error) {
	var b strings.Builder
	b.WriteString(c.endpoint)
	rest := op.Path
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("client: bad path template %q", op.Path)
		}
		label := rest[i+1 : i+j]
		v := cl.labels[label]
		if v == "" {
			// An empty label would address another route; the SDKs refuse too.
			return "", &syncapi.ValidationError{Field: label, Reason: "required path member is empty"}
		}
		b.WriteString(rest[:i])
		b.WriteString(escapeLabel(v))
		rest = rest[i+j+1:]
	}
	if len(cl.query) > 0 {
		b.WriteByte('?')
		// RFC 3986 style: a space is %20, not '+'; a literal '+' is already %2B.
		b.WriteString(strings.ReplaceAll(cl.query.Encode(), "+", "%20"))
	}
	return b.String(), nil
}

// escapeLabel percent-encodes every byte except A-Z a-z 0-9 - . _ ~, as the
// AWS SDKs' rest protocol escapes path labels (spec A.2: ':' becomes %3A).
func escapeLabel(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' ||
			ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

// send makes one attempt: build, sign, send, decode.
func (c *Client) send(ctx context.Context, op httpapi.Operation, target string, extra http.Header,
	payload []byte, payloadHash string, out any) error {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, target, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", userAgent)
	if c.creds != nil {
		creds, err := c.creds.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("retrieve credentials: %w", err)
		}
		if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, httpapi.SyncSigningName, c.region, time.Now().UTC()); err != nil {
			return fmt.Errorf("sign request: %w", err)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("decode %s response (request id %s): %w",
			op.Name, requestID(resp.Header), err)}
	}
	return nil
}
