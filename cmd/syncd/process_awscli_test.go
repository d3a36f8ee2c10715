package main_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// TestAWSCLI_BlackBox drives syncd with the AWS CLI v2 (Debian's awscli,
// SYNC_TEST_AWS_CLI; a pyenv `aws` v1 may come first on PATH, so the path
// is explicit), as an operator would: a guest identity and its credentials
// from Cognito Identity, then a write, a read and a dataset description
// with Cognito Sync, all with static credentials and no instance metadata.
func TestAWSCLI_BlackBox(t *testing.T) {
	cli := synctest.ServiceURL(t, "SYNC_TEST_AWS_CLI")
	pool := synctest.PoolID()
	p := startSyncd(t, "--pool", pool, "--stream", "none")
	home := t.TempDir()
	aws := func(creds []string, out any, args ...string) {
		t.Helper()
		cmd := exec.Command(cli, append(args, "--endpoint-url", p.Endpoint, "--region", synctest.Region, "--output", "json")...)
		cmd.Env = synctest.ChildEnv([]string{"AWS_", "HOME="}, append([]string{"HOME=" + home, "AWS_EC2_METADATA_DISABLED=true",
			"AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials"}, creds...)...)
		b, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, b, stderr)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, b)
			}
		}
	}
	version, err := exec.Command(cli, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(version), "aws-cli/2.") {
		t.Fatalf("%s is %q (%v); want the AWS CLI v2", cli, version, err)
	}
	dev := []string{"AWS_ACCESS_KEY_ID=" + devKeyID, "AWS_SECRET_ACCESS_KEY=" + devSecret}

	var id struct{ IdentityId string }
	aws(dev, &id, "cognito-identity", "get-id", "--identity-pool-id", pool)
	var cr struct {
		IdentityId  string
		Credentials struct{ AccessKeyId, SecretKey, SessionToken string }
	}
	aws(dev, &cr, "cognito-identity", "get-credentials-for-identity", "--identity-id", id.IdentityId)
	if cr.IdentityId != id.IdentityId || cr.Credentials.AccessKeyId == "" || cr.Credentials.SessionToken == "" {
		t.Fatalf("get-credentials-for-identity = %+v", cr)
	}
	user := []string{"AWS_ACCESS_KEY_ID=" + cr.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + cr.Credentials.SecretKey,
		"AWS_SESSION_TOKEN=" + cr.Credentials.SessionToken}
	ds := []string{"--identity-pool-id", pool, "--identity-id", id.IdentityId, "--dataset-name", "settings"}

	var ls struct {
		SyncSessionToken string
		Records          []struct {
			Key, Value string
			SyncCount  int64
		}
	}
	aws(user, &ls, append([]string{"cognito-sync", "list-records"}, ds...)...)
	aws(user, nil, append([]string{"cognito-sync", "update-records", "--sync-session-token", ls.SyncSessionToken,
		"--record-patches", "Op=replace,Key=theme,Value=dark,SyncCount=0"}, ds...)...)
	aws(user, &ls, append([]string{"cognito-sync", "list-records"}, ds...)...)
	if len(ls.Records) != 1 || ls.Records[0].Key != "theme" || ls.Records[0].Value != "dark" || ls.Records[0].SyncCount != 1 {
		t.Errorf("list-records after update-records = %+v", ls.Records)
	}
	var dd struct {
		Dataset struct {
			DatasetName string
			NumRecords  int64
		}
	}
	aws(user, &dd, append([]string{"cognito-sync", "describe-dataset"}, ds...)...)
	if dd.Dataset.DatasetName != "settings" || dd.Dataset.NumRecords != 1 {
		t.Errorf("describe-dataset = %+v", dd.Dataset)
	}
}
