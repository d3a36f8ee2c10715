package importer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/go-jose/go-jose/v4"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/idtoken"
)

const audience = "app-client"

// getIDCounter counts the GetId calls a proxy passes to the source.
type getIDCounter struct {
	n     atomic.Int64
	proxy *httputil.ReverseProxy
}

func (c *getIDCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetId") {
		c.n.Add(1)
	}
	c.proxy.ServeHTTP(w, r)
}

func getID(t *testing.T, endpoint, pool string, logins map[string]string) (string, error) {
	t.Helper()
	out, err := synctest.IdentityClient(endpoint, aws.AnonymousCredentials{}).GetId(context.Background(),
		&cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool), Logins: logins})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.IdentityId), nil
}

// TestLoginFallback_OIDCUserFindsImportedIdentity: an OpenID Connect user
// of the source (whose subject AWS does not disclose, so the import cannot
// link it) signs in at the target with --login-fallback: the first GetId
// asks the source once and gets the imported identity, with its data; later
// calls need the source no more. A user the source does not know gets a new
// identity, and without the fallback even the known user would.
func TestLoginFallback_OIDCUserFindsImportedIdentity(t *testing.T) {
	ctx := context.Background()
	iss := synctest.StartIssuer(t)
	logins := server.Logins{OIDCProviders: []idtoken.Provider{{Issuer: iss.URL, Audiences: []string{audience}}}}
	src := &source{Server: synctest.Start(t, synctest.Options{Logins: logins}), pool: synctest.PoolID()}
	if err := src.Store.CreatePool(ctx, syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: src.pool, IdentityPoolName: "oidc",
		OpenIDConnectProviderARNs: []string{iss.ARN()}}}); err != nil {
		t.Fatal(err)
	}
	token := func(sub string) map[string]string {
		return map[string]string{iss.LoginKey(): iss.Token(t, jose.RS256, iss.Claims(sub, audience))}
	}
	alice, err := getID(t, src.URL, src.pool, token("alice"))
	if err != nil {
		t.Fatal(err)
	}
	v := "42"
	src.update(t, syncapi.DatasetKey{PoolID: src.pool, IdentityID: alice, Name: "game"}, syncapi.Change{Key: "score", Value: &v})

	u, _ := url.Parse(src.URL)
	counter := &getIDCounter{proxy: httputil.NewSingleHostReverseProxy(u)}
	proxy := httptest.NewServer(counter)
	t.Cleanup(proxy.Close)

	fallback := logins
	fallback.FallbackURL = proxy.URL
	dst := synctest.Start(t, synctest.Options{Logins: fallback})
	if sum := run(t, src, src.URL, dst.Store, true); sum.OtherLoginIdentities != 1 || len(sum.Differences) != 0 {
		t.Fatalf("import summary %+v", sum)
	}
	plain := synctest.Start(t, synctest.Options{Logins: logins})
	run(t, src, src.URL, plain.Store, false)

	for i := range 2 {
		got, err := getID(t, dst.URL, src.pool, token("alice"))
		if err != nil || got != alice {
			t.Fatalf("GetId %d for alice at the target = %q, %v; want the imported %s", i, got, err, alice)
		}
	}
	if n := counter.n.Load(); n != 1 {
		t.Fatalf("the source answered %d GetId calls, want 1 (resolved once, then linked)", n)
	}
	// Alice's credentials and data at the target.
	creds, err := synctest.IdentityClient(dst.URL, aws.AnonymousCredentials{}).GetCredentialsForIdentity(ctx,
		&cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(alice), Logins: token("alice")})
	if err != nil || aws.ToString(creds.IdentityId) != alice {
		t.Fatalf("GetCredentialsForIdentity = %+v, %v", creds, err)
	}
	page, err := dst.Store.ListRecords(ctx, syncapi.DatasetKey{PoolID: src.pool, IdentityID: alice, Name: "game"}, syncapi.RecordQuery{})
	if err != nil || len(page.Records) != 1 || *page.Records[0].Value != "42" {
		t.Fatalf("alice's data at the target: %+v, %v", page, err)
	}

	// A user the source never saw: a new identity of the target.
	bob, err := getID(t, dst.URL, src.pool, token("bob"))
	if err != nil || bob == "" || bob == alice {
		t.Fatalf("GetId for bob = %q, %v", bob, err)
	}
	// Without the fallback, alice would lose her data to a new identity.
	if other, err := getID(t, plain.URL, src.pool, token("alice")); err != nil || other == alice {
		t.Fatalf("GetId for alice without the fallback = %q, %v; the test shows nothing", other, err)
	}
}

// TestLoginFallback_SourceDown: while the source does not answer, a login
// no identity holds fails retryably instead of getting a new identity.
func TestLoginFallback_SourceDown(t *testing.T) {
	iss := synctest.StartIssuer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	logins := server.Logins{OIDCProviders: []idtoken.Provider{{Issuer: iss.URL, Audiences: []string{audience}}}, FallbackURL: down.URL}
	dst := synctest.Start(t, synctest.Options{Logins: logins})
	pool := synctest.PoolID()
	if err := dst.Store.CreatePool(context.Background(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p",
		OpenIDConnectProviderARNs: []string{iss.ARN()}}}); err != nil {
		t.Fatal(err)
	}
	_, err := getID(t, dst.URL, pool, map[string]string{iss.LoginKey(): iss.Token(t, jose.RS256, iss.Claims("carol", audience))})
	if err == nil || !strings.Contains(err.Error(), "ServiceUnavailableException") {
		t.Fatalf("GetId with the source down: %v", err)
	}
}
