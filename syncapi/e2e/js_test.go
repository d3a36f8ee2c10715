package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

// jsResult is what deploy/local/js-clients/logins.js prints.
type jsResult struct {
	V3IdentityID string `json:"v3IdentityId"`
	V3HasKeys    bool   `json:"v3HasKeys"`
	V2IdentityID string `json:"v2IdentityId"`
	Sync         struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"sync"`
	Merged   []string `json:"merged"`
	CopySync struct {
		OK bool `json:"ok"`
	} `json:"copySync"`
	CopyLevel string `json:"copyLevel"`
	Loser     string `json:"loser"`
}

func runJS(t *testing.T, dir string, env []string, mode string) jsResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "logins.js"), mode)
	cmd.Dir = dir
	cmd.Env = synctest.ChildEnv([]string{"AWS_"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node logins.js %s: %v\n%s", mode, err, stderr.String())
	}
	var r jsResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("node logins.js %s printed %q: %v", mode, stdout.String(), err)
	}
	return r
}

// TestLogins_OfficialJSClients: the official JavaScript credential
// providers (aws-sdk v2 CognitoIdentityCredentials, v3
// fromCognitoIdentityPool) accept syncd's developer-authenticated token, the
// Cognito Sync Manager syncs with them, and after MergeDeveloperIdentities
// it reports the merge through onDatasetsMerged and reads the merged copy;
// the merged identity's token is refused.
func TestLogins_OfficialJSClients(t *testing.T) {
	dir := synctest.ServiceURL(t, "SYNC_TEST_JS_CLIENTS")
	if _, err := exec.LookPath("node"); err != nil {
		synctest.Unavailable(t, "node is not installed")
	}
	s := synctest.Start(t, synctest.Options{})
	dev, _ := v1Identity(s)
	pool := createDevPool(t, dev, false, devProvider)
	alice, aliceToken := devToken(t, dev, pool, "", "alice")
	bob, bobToken := devToken(t, dev, pool, "", "bob")
	bobIdent := synctest.LoginAt(t, s.URL, pool, cognitoLogin(bobToken))
	write(t, synctest.SyncV1(t, s.URL, bobIdent.V1()), pool, bob, "game", "level", "3")

	env := []string{"SYNCD_URL=" + s.URL, "REGION=" + synctest.Region, "POOL=" + pool, "IDENTITY_ID=" + alice, "TOKEN=" + aliceToken,
		"LOSER_ID=" + bob, "LOSER_TOKEN=" + bobToken, "AWS_EC2_METADATA_DISABLED=true"}
	r := runJS(t, dir, env, "sync")
	if r.V3IdentityID != alice || !r.V3HasKeys || r.V2IdentityID != alice || !r.Sync.OK {
		t.Fatalf("JS clients before the merge: %+v", r)
	}
	if got := recordMap(listAll(t, s.DevSyncV1(t), pool, alice, "game", 0).Records); aws.StringValue(got["level"]) != "7" {
		t.Errorf("the Sync Manager's write: %v", got)
	}

	if _, err := dev.MergeDeveloperIdentities(&cognitoidentity.MergeDeveloperIdentitiesInput{IdentityPoolId: aws.String(pool),
		DeveloperProviderName: aws.String(devProvider), SourceUserIdentifier: aws.String("bob"), DestinationUserIdentifier: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	r = runJS(t, dir, env, "merged")
	want := []string{syncapi.MergedDatasetName("game", bob)}
	if !reflect.DeepEqual(r.Merged, want) || r.Sync.OK {
		t.Errorf("onDatasetsMerged got %v (sync %+v), want %v", r.Merged, r.Sync, want)
	}
	if !r.CopySync.OK || r.CopyLevel != "3" {
		t.Errorf("the merged copy through the Sync Manager: %+v", r)
	}
	if r.Loser != "NotAuthorizedException" {
		t.Errorf("the merged identity's token: %s, want NotAuthorizedException", r.Loser)
	}
}
