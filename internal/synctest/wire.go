package synctest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/sync/errgroup"
)

// WireClient speaks syncd's wire directly, with one shared HTTP client:
// GetId and GetCredentialsForIdentity unsigned, as SDK credential providers
// send them, the Cognito Sync calls signed with aws-sdk-go-v2's signer. It
// is for tests that drive many identities cheaply (memory, RSS), where a
// new SDK client per identity would cost the test, and connections left
// idle would cost the server, more than what is measured.
type WireClient struct {
	URL  string // http://host:port
	Pool string
	HTTP *http.Client
	// Now is the signing clock; nil: time.Now. A test that injects a clock
	// into the server signs with it.
	Now func() time.Time
}

// WireCredentials are an identity's temporary credentials, or developer
// credentials (empty ID and session token).
type WireCredentials struct {
	ID                                   string // identity id
	AccessKeyID, SecretKey, SessionToken string
}

// NewIdentity calls GetId and GetCredentialsForIdentity.
func (w *WireClient) NewIdentity(ctx context.Context) (WireCredentials, error) {
	var id struct{ IdentityId string }
	if err := w.identity(ctx, "GetId", map[string]string{"IdentityPoolId": w.Pool}, &id); err != nil {
		return WireCredentials{}, err
	}
	var cr struct {
		Credentials struct{ AccessKeyId, SecretKey, SessionToken string }
	}
	if err := w.identity(ctx, "GetCredentialsForIdentity", map[string]string{"IdentityId": id.IdentityId}, &cr); err != nil {
		return WireCredentials{}, err
	}
	return WireCredentials{id.IdentityId, cr.Credentials.AccessKeyId, cr.Credentials.SecretKey, cr.Credentials.SessionToken}, nil
}

func (w *WireClient) identity(ctx context.Context, target string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, "POST", w.URL+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityService."+target)
	return w.do(req, out)
}

// Signed sends a Cognito Sync request signed with c, and decodes a 200
// answer into out (nil: discard); any other answer is an error.
func (w *WireClient) Signed(ctx context.Context, c WireCredentials, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, w.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	err = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretKey, SessionToken: c.SessionToken},
		req, hex.EncodeToString(sum[:]), "cognito-sync", Region, now())
	if err != nil {
		return err
	}
	return w.do(req, out)
}

func (w *WireClient) do(req *http.Request, out any) error {
	resp, err := w.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// DatasetPath is the path of a dataset of identity id in the client's pool.
func (w *WireClient) DatasetPath(id, dataset string) string {
	return "/identitypools/" + escapeLabel(w.Pool) + "/identities/" + escapeLabel(id) + "/datasets/" + dataset
}

// FirstSync is a new device's first sync of one record: GetId,
// GetCredentialsForIdentity, ListRecords, UpdateRecords.
func (w *WireClient) FirstSync(ctx context.Context) error {
	c, err := w.NewIdentity(ctx)
	if err != nil {
		return err
	}
	ds := w.DatasetPath(c.ID, "settings")
	var lr struct{ SyncSessionToken string }
	if err := w.Signed(ctx, c, "GET", ds+"/records", nil, &lr); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{
		"SyncSessionToken": lr.SyncSessionToken,
		"RecordPatches":    []map[string]any{{"Op": "replace", "Key": "theme", "Value": "dark", "SyncCount": 0}},
	})
	return w.Signed(ctx, c, "POST", ds, body, nil)
}

// FirstSyncs runs n FirstSync, parallel at a time.
func (w *WireClient) FirstSyncs(ctx context.Context, n, parallel int) error {
	var g errgroup.Group
	g.SetLimit(parallel)
	for range n {
		g.Go(func() error { return w.FirstSync(ctx) })
	}
	return g.Wait()
}

// escapeLabel escapes a path label as the SDKs do (every byte but
// A-Z a-z 0-9 - . _ ~).
func escapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
