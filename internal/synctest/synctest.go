// Package synctest starts a complete syncd (internal/server, as cmd/syncd
// assembles it) on a real HTTP listener for tests, and builds official AWS
// SDK clients pointed at it.
package synctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/cognitosync"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// Region is the region every test signs for.
const Region = "us-east-1"

// Options configure Start.
type Options struct {
	Store  syncapi.Store // nil: SQLite under t.TempDir()
	Limits syncapi.Limits
	Now    func() time.Time
	// CredentialTTL is the lifetime of identity credentials; 0: 1 h.
	CredentialTTL time.Duration
	// Registry receives the server's metrics; nil: a registry of its own.
	Registry *prometheus.Registry
	// Trigger runs pools' SyncTrigger functions; nil: none configured (an
	// identity write to a pool with a SyncTrigger fails closed).
	Trigger syncapi.TriggerInvoker
	// Logins configures OpenID tokens and login providers.
	Logins server.Logins
}

// Server is a running syncd.
type Server struct {
	URL       string
	DevKeyID  string
	DevSecret string
	Store     syncapi.Store
	Service   *syncapi.Service
	AccountID string
}

// Start runs syncd, built by server.New on a free loopback port with a
// random developer key and no stream, until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Store == nil {
		o.Store = SQLite(t)
	}
	key := server.NewDeveloperKey()
	srv, err := server.New(context.Background(), server.Config{
		Listen: "127.0.0.1:0", Store: o.Store, Region: Region, AccountID: "123456789012",
		DeveloperKeys: []server.DeveloperKey{key}, Limits: o.Limits, CredentialTTL: o.CredentialTTL,
		Trigger: o.Trigger, Registry: o.Registry, Now: o.Now, Logins: o.Logins,
	})
	if err != nil {
		t.Fatal(err)
	}
	Serve(t, srv)
	return &Server{URL: srv.Endpoint(), DevKeyID: key.ID, DevSecret: key.Secret, Store: o.Store,
		Service: srv.Service(), AccountID: "123456789012"}
}

// Serve runs srv until the test ends, then closes it; an error of Run or
// Close fails the test.
func Serve(t testing.TB, srv *server.Server) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close syncd: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("syncd: %v", err)
		}
	})
}

// SQLite opens a SQLite store in a temporary directory.
func SQLite(t testing.TB) syncapi.Store {
	t.Helper()
	return Open(t, filepath.Join(t.TempDir(), "syncd.db"))
}

// PostgresURL returns SYNC_TEST_POSTGRES_URL with a fresh schema as its
// search_path, dropped when the test ends. Without the variable the test is
// skipped, or fails under CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := ServiceURL(t, "SYNC_TEST_POSTGRES_URL")
	schema := "t_" + randHex(6)
	execPG(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { execPG(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres opens a PostgreSQL store on a fresh schema.
func Postgres(t testing.TB) syncapi.Store {
	t.Helper()
	return Open(t, PostgresURL(t))
}

// Stores returns a constructor per backend, for tests run on both.
func Stores() map[string]func(testing.TB) syncapi.Store {
	return map[string]func(testing.TB) syncapi.Store{"sqlite": SQLite, "postgres": Postgres}
}

// DevSyncV1 returns aws-sdk-go v1's Cognito Sync client with developer credentials.
func (s *Server) DevSyncV1(t testing.TB) *cognitosync.CognitoSync {
	return SyncV1(t, s.URL, credv1.NewStaticCredentials(s.DevKeyID, s.DevSecret, ""))
}

// SyncV1 returns aws-sdk-go v1's Cognito Sync client (the official wire
// model) pointed at endpoint.
func SyncV1(t testing.TB, endpoint string, creds *credv1.Credentials) *cognitosync.CognitoSync {
	t.Helper()
	// Its own connection pool, large enough for concurrent writers.
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	sess, err := session.NewSession(&awsv1.Config{
		Endpoint: awsv1.String(endpoint), Region: awsv1.String(Region), Credentials: creds,
		DisableSSL: awsv1.Bool(true), MaxRetries: awsv1.Int(0),
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cognitosync.New(sess)
}

// IdentityV2 returns aws-sdk-go-v2's Cognito Identity client with developer
// credentials (GetId and GetCredentialsForIdentity are sent unsigned anyway).
func (s *Server) IdentityV2() *cognitoidentity.Client {
	return IdentityClient(s.URL, aws.NewCredentialsCache(StaticV2(s.DevKeyID, s.DevSecret, "")))
}

// IdentityClient returns aws-sdk-go-v2's Cognito Identity client for endpoint.
func IdentityClient(endpoint string, creds aws.CredentialsProvider) *cognitoidentity.Client {
	return cognitoidentity.New(cognitoidentity.Options{
		Region: Region, BaseEndpoint: aws.String(endpoint), Credentials: creds,
		RetryMaxAttempts: 1,
	})
}

// StaticV2 is a static aws-sdk-go-v2 credentials provider.
func StaticV2(id, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "synctest"}, nil
	})
}

// CreatePool creates an identity pool with the given id (unauthenticated
// identities allowed) through the official Cognito Identity client.
func (s *Server) CreatePool(t testing.TB, id string) {
	t.Helper()
	_, err := s.IdentityV2().CreateIdentityPool(context.Background(), &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: aws.String("test pool"), AllowUnauthenticatedIdentities: true,
		IdentityPoolTags: map[string]string{syncapi.PoolIDTag: id},
	})
	if err != nil {
		t.Fatalf("create pool %s: %v", id, err)
	}
}

// Identity is an identity with its temporary credentials.
type Identity struct {
	PoolID, ID string
	Creds      aws.Credentials
}

// V1 returns the identity's credentials for aws-sdk-go v1.
func (i Identity) V1() *credv1.Credentials {
	return credv1.NewStaticCredentials(i.Creds.AccessKeyID, i.Creds.SecretAccessKey, i.Creds.SessionToken)
}

// NewIdentity gets a new identity and its credentials the way SDK credential
// providers do: GetId, then GetCredentialsForIdentity, with aws-sdk-go-v2.
func (s *Server) NewIdentity(t testing.TB, pool string) Identity {
	t.Helper()
	return NewIdentityAt(t, s.URL, pool)
}

// NewIdentityAt is NewIdentity against any syncd endpoint (e.g. a process
// under test).
func NewIdentityAt(t testing.TB, endpoint, pool string) Identity {
	t.Helper()
	return LoginAt(t, endpoint, pool, nil)
}

// LoginAt gets the identity of logins and its credentials as SDK
// credential providers do (GetId, then GetCredentialsForIdentity, both
// with Logins), with aws-sdk-go-v2.
func LoginAt(t testing.TB, endpoint, pool string, logins map[string]string) Identity {
	t.Helper()
	ctx := context.Background()
	ci := IdentityClient(endpoint, aws.AnonymousCredentials{})
	id, err := ci.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool), Logins: logins})
	if err != nil {
		t.Fatalf("GetId: %v", err)
	}
	out, err := ci.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
	if err != nil {
		t.Fatalf("GetCredentialsForIdentity: %v", err)
	}
	c := out.Credentials
	return Identity{PoolID: pool, ID: *out.IdentityId, Creds: aws.Credentials{
		AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken,
		CanExpire: true, Expires: *c.Expiration,
	}}
}

// PoolID returns a fresh identity pool id in the AWS format.
func PoolID() string { return Region + ":" + syncapi.NewUUID() }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func execPG(t testing.TB, url, stmt string) {
	t.Helper()
	if err := sqlExec(url, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// Open opens a store on url (a SQLite path or a postgres:// URL), closed
// when the test ends.
func Open(t testing.TB, url string) syncapi.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// IdentityID returns a new random identity id in Region.
func IdentityID() string { return Region + ":" + syncapi.NewUUID() }
