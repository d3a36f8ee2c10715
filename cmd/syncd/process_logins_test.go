package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/go-jose/go-jose/v4"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

func devIdentity(endpoint string) *cognitoidentity.Client {
	return synctest.IdentityClient(endpoint, aws.NewCredentialsCache(synctest.StaticV2(devKeyID, devSecret, "")))
}

// apiCode is the AWS error code of an aws-sdk-go-v2 or v1 error.
func apiCode(err error) string {
	var v2 interface{ ErrorCode() string }
	if errors.As(err, &v2) {
		return v2.ErrorCode()
	}
	var v1 awserr.Error
	if errors.As(err, &v1) {
		return v1.Code()
	}
	return fmt.Sprint(err)
}

// TestProcess_OIDCProvider: syncd started with --oidc-provider
// issuer=http://127.0.0.1:PORT,audience=… accepts that issuer's RS256 and
// ES256 tokens under the Logins key <issuer without scheme> for a pool that
// lists its ARN: one login, one identity; a guest that logs in keeps its id;
// another guest presenting the login is merged into its owner.
func TestProcess_OIDCProvider(t *testing.T) {
	ctx := context.Background()
	iss := synctest.StartIssuer(t)
	p := startSyncd(t, "--oidc-provider", "issuer="+iss.URL+",audience=web,audience=app")
	pool := synctest.PoolID()
	if _, err := devIdentity(p.Endpoint).CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: aws.String("oidc"), AllowUnauthenticatedIdentities: true,
		OpenIdConnectProviderARNs: []string{iss.ARN()}, IdentityPoolTags: map[string]string{syncapi.PoolIDTag: pool},
	}); err != nil {
		t.Fatal(err)
	}
	anon := synctest.IdentityClient(p.Endpoint, aws.AnonymousCredentials{})
	login := func(alg jose.SignatureAlgorithm, sub, aud string) map[string]string {
		return map[string]string{iss.LoginKey(): iss.Token(t, alg, iss.Claims(sub, aud))}
	}

	guest := newIdentity(t, p.Endpoint, pool)
	gs := syncClient(t, p.Endpoint, guest.V1())
	if _, err := gs.UpdateRecords(updateInput(pool, guest.ID, "notes", token(t, gs, pool, guest.ID, "notes"), replace("a", "1", 0))); err != nil {
		t.Fatal(err)
	}
	out, err := anon.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: &guest.ID, Logins: login(jose.RS256, "user-1", "app")})
	if err != nil || *out.IdentityId != guest.ID {
		t.Fatalf("the guest logs in: %v %v", out, err)
	}
	// Another device, an ES256 token of the same user: the same identity.
	dev2 := synctest.LoginAt(t, p.Endpoint, pool, login(jose.ES256, "user-1", "web"))
	if dev2.ID != guest.ID {
		t.Fatalf("the same login on another device = %s, want %s", dev2.ID, guest.ID)
	}
	// A second guest with data presents the login: merged into its owner.
	other := newIdentity(t, p.Endpoint, pool)
	os := syncClient(t, p.Endpoint, other.V1())
	if _, err := os.UpdateRecords(updateInput(pool, other.ID, "notes", token(t, os, pool, other.ID, "notes"), replace("b", "2", 0))); err != nil {
		t.Fatal(err)
	}
	out, err = anon.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: &other.ID, Logins: login(jose.RS256, "user-1", "app")})
	if err != nil || *out.IdentityId != guest.ID {
		t.Fatalf("a merging login = %v, %v; want the owner %s", out, err, guest.ID)
	}
	if _, _, err := listAll(os, pool, other.ID, "notes"); apiCode(err) != "NotAuthorizedException" {
		t.Errorf("the merged identity's credentials: %v", err)
	}
	_, root, err := listAll(syncClient(t, p.Endpoint, dev2.V1()), pool, guest.ID, "notes")
	if err != nil || !reflect.DeepEqual(awsv1.StringValueSlice(root.MergedDatasetNames), []string{syncapi.MergedDatasetName("notes", other.ID)}) {
		t.Errorf("MergedDatasetNames = %v, %v", root, err)
	}
	// Refusals: another audience; an issuer the pool does not list.
	if _, err := anon.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: &pool, Logins: login(jose.RS256, "user-2", "mobile")}); apiCode(err) != "NotAuthorizedException" {
		t.Errorf("wrong audience: %v", err)
	}
	if _, err := anon.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: &pool, Logins: map[string]string{"graph.facebook.com": "x"}}); apiCode(err) != "NotAuthorizedException" || !strings.Contains(err.Error(), "Facebook") {
		t.Errorf("a Facebook login: %v", err)
	}
}

// TestProcess_SigningKeysSurviveRestartAndRotate: syncd's token signed
// before a restart (on another port: --public-url names the issuer) and a
// `syncd rotate-signing-key` still gets credentials; the JWKS then lists
// both keys.
func TestProcess_SigningKeysSurviveRestartAndRotate(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startSyncd(t, "--data", data, "--public-url", "https://sync.example.com")
	pool := synctest.PoolID()
	if _, err := devIdentity(p.Endpoint).CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: aws.String("dev"), DeveloperProviderName: aws.String("login.example"),
		IdentityPoolTags: map[string]string{syncapi.PoolIDTag: pool},
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := devIdentity(p.Endpoint).GetOpenIdTokenForDeveloperIdentity(ctx, &cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{
		IdentityPoolId: &pool, Logins: map[string]string{"login.example": "carol"}, TokenDuration: aws.Int64(3600)})
	if err != nil {
		t.Fatal(err)
	}
	before := jwks(t, p.Endpoint)
	p.kill()
	p.waitExit(t, 10*time.Second)

	rot := exec.Command(syncdBin, "rotate-signing-key", "--data", data)
	rot.Env = synctest.ChildEnv([]string{"SYNCD_", "AWS_"})
	outb, err := rot.CombinedOutput()
	if err != nil || !strings.Contains(string(outb), "new signing key") {
		t.Fatalf("rotate-signing-key: %v\n%s", err, outb)
	}
	p = startSyncd(t, "--data", data, "--public-url", "https://sync.example.com")
	after := jwks(t, p.Endpoint)
	if len(before) != 1 || len(after) != 2 || after[1] != before[0] {
		t.Errorf("JWKS kids before %v, after rotation %v: want the new key and the previous one", before, after)
	}
	logins := map[string]string{syncapi.CognitoIdentityProviderName: *tok.Token}
	anon := synctest.IdentityClient(p.Endpoint, aws.AnonymousCredentials{})
	if out, err := anon.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: tok.IdentityId, Logins: logins}); err != nil || *out.IdentityId != *tok.IdentityId {
		t.Errorf("a token of the previous key after restart: %v, %v", out, err)
	}
}

func jwks(t testing.TB, endpoint string) []string {
	t.Helper()
	resp, err := http.Get(endpoint + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid, Alg, Kty string
			D             string `json:"d"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" || k.Kty != "RSA" || k.Alg != "RS256" {
			t.Errorf("JWKS key %+v: want a public RS256 key", k)
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestProcess_MergeSurvivesSIGKILL: syncd killed -9 while merges are in
// flight leaves every pair merged entirely or not at all, on SQLite and
// PostgreSQL: the loser disabled, its login moved and every dataset copied
// with every record, or nothing of that.
func TestProcess_MergeSurvivesSIGKILL(t *testing.T) {
	for _, st := range []struct {
		name string
		url  func(t *testing.T, dir string) (string, []string)
	}{
		{"sqlite", func(t *testing.T, dir string) (string, []string) {
			return filepath.Join(dir, "syncd.db"), []string{"--data", dir}
		}},
		{"postgres", func(t *testing.T, dir string) (string, []string) {
			u := synctest.PostgresURL(t)
			return u, []string{"--store", u}
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			url, args := st.url(t, t.TempDir())
			const pairs, datasets, records = 24, 3, 40
			pool := synctest.PoolID()
			db, err := sqlstore.Open(ctx, sqlstore.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.CreatePool(ctx, syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "m", DeveloperProviderName: "dev"}}); err != nil {
				t.Fatal(err)
			}
			type pair struct{ winner, loser string }
			ps := make([]pair, pairs)
			for i := range ps {
				for j, role := range []string{"w", "l"} {
					res, err := db.Link(ctx, syncapi.LinkRequest{PoolID: pool, NewID: synctest.IdentityID(), Now: time.Now(),
						Logins: []syncapi.Login{{Provider: "dev", Subject: fmt.Sprintf("%s%d", role, i)}}})
					if err != nil {
						t.Fatal(err)
					}
					if j == 0 {
						ps[i].winner = res.IdentityID
					} else {
						ps[i].loser = res.IdentityID
					}
				}
				for d := 0; d < datasets; d++ {
					var ch []syncapi.Change
					for r := 0; r < records; r++ {
						v := strings.Repeat("v", 100)
						ch = append(ch, syncapi.Change{Key: fmt.Sprintf("k%d", r), Value: &v})
					}
					if _, err := db.UpdateRecords(ctx, syncapi.UpdateRequest{Key: syncapi.DatasetKey{PoolID: pool, IdentityID: ps[i].loser, Name: fmt.Sprintf("d%d", d)}, Changes: ch, Now: time.Now()}); err != nil {
						t.Fatal(err)
					}
				}
			}
			db.Close()

			p := startSyncd(t, args...)
			dev := devIdentity(p.Endpoint)
			first := make(chan struct{})
			var once sync.Once
			var wg sync.WaitGroup
			for i := range ps {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := dev.MergeDeveloperIdentities(ctx, &cognitoidentity.MergeDeveloperIdentitiesInput{IdentityPoolId: &pool,
						DeveloperProviderName: aws.String("dev"), SourceUserIdentifier: aws.String(fmt.Sprintf("l%d", i)), DestinationUserIdentifier: aws.String(fmt.Sprintf("w%d", i))})
					if err == nil {
						once.Do(func() { close(first) })
					}
				}()
			}
			select {
			case <-first:
			case <-time.After(30 * time.Second):
				t.Fatal("no merge finished")
			}
			p.kill()
			p.waitExit(t, 10*time.Second)
			wg.Wait()

			db, err = sqlstore.Open(ctx, sqlstore.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			merged := 0
			for i, pr := range ps {
				l, err := db.DescribeIdentity(ctx, pr.loser)
				if err != nil {
					t.Fatal(err)
				}
				owner, err := db.FindLogin(ctx, pool, syncapi.Login{Provider: "dev", Subject: fmt.Sprintf("l%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				copies := 0
				for d := 0; d < datasets; d++ {
					st, err := db.GetDataset(ctx, syncapi.DatasetKey{PoolID: pool, IdentityID: pr.winner, Name: syncapi.MergedDatasetName(fmt.Sprintf("d%d", d), pr.loser)})
					if err != nil {
						t.Fatal(err)
					}
					if st.Exists {
						copies++
						if st.NumRecords != records || st.SyncCount != 1 {
							t.Errorf("pair %d: a partial copy %+v", i, st.Dataset)
						}
					}
				}
				switch {
				case l.Disabled && l.MergedInto == pr.winner && owner == pr.winner && copies == datasets:
					merged++
				case !l.Disabled && owner == pr.loser && copies == 0:
				default:
					t.Errorf("pair %d half merged: loser %+v, login owner %s, %d of %d copies", i, l, owner, copies, datasets)
				}
			}
			t.Logf("%d of %d merges had committed at the kill", merged, pairs)
			if merged == 0 {
				t.Errorf("no merge committed although one answered")
			}
		})
	}
}
