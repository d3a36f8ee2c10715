package cliconfig_test

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/cliconfig"
	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/syncapi"
)

func TestKeys_KeepOrderAndReplaceSecrets(t *testing.T) {
	var k cliconfig.Keys
	if err := k.Set("B:one, A:two"); err != nil {
		t.Fatal(err)
	}
	if err := k.Set("B:three"); err != nil {
		t.Fatal(err)
	}
	want := cliconfig.Keys{{ID: "B", Secret: "three"}, {ID: "A", Secret: "two"}}
	if !slices.Equal(k, want) {
		t.Errorf("keys = %v, want %v", k, want)
	}
	for _, bad := range []string{"AKID", ":secret", "AKID:"} {
		if err := k.Set(bad); err == nil || !strings.Contains(err.Error(), "ACCESS_KEY_ID:SECRET") {
			t.Errorf("Set(%q) = %v", bad, err)
		}
	}
}

// parse defines the service flags with prefix P_ and parses args over env.
func parse(t *testing.T, env map[string]string, args ...string) (cliconfig.Service, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	e := cliconfig.NewEnv(func(k string) string { return env[k] })
	var s cliconfig.Service
	s.Define(fs, e, cliconfig.ServiceNames{Prefix: "P_", PoolsEnv: "P_IDENTITY_POOLS", RegionHelp: "r", PoolsHelp: "p", KeysDefault: "k"})
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	return s, e.Err()
}

// TestService_FlagsEnvAndServerConfig: every service flag reaches the
// server.Config, from its flag or its prefixed variable (the flag wins; a
// list flag replaces its variable's list rather than adding to it).
func TestService_FlagsEnvAndServerConfig(t *testing.T) {
	env := map[string]string{
		"P_REGION": "eu-west-1", "P_IDENTITY_POOLS": "eu-west-1:a", "P_DEVELOPER_KEYS": "ENV:secret",
		"P_ACCOUNT_ID": "111122223333", "P_SESSION_TTL": "2m", "P_MAX_RECORDS": "7", "P_LAMBDA_ENDPOINT": "http://env:9000",
	}
	s, err := parse(t, env, "--credential-ttl", "3m", "--max-datasets", "2", "--max-dataset-bytes", "99",
		"--lambda-endpoint", "http://flag:9000", "--lambda-function-name", "function", "--developer-key", "FLAG:secret")
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	got := s.ServerConfig()
	want := server.Config{
		Region: "eu-west-1", Pools: []string{"eu-west-1:a"}, AccountID: "111122223333",
		DeveloperKeys: []server.DeveloperKey{{ID: "FLAG", Secret: "secret"}}, // the flag replaces P_DEVELOPER_KEYS
		Limits:        syncapi.Limits{MaxDatasets: 2, MaxRecords: 7, MaxDatasetBytes: 99},
		SessionTTL:    2 * time.Minute, CredentialTTL: 3 * time.Minute,
		LambdaEndpoint: "http://flag:9000", LambdaFunctionName: "function",
	}
	if got.Region != want.Region || !slices.Equal(got.Pools, want.Pools) || got.AccountID != want.AccountID ||
		!slices.Equal(got.DeveloperKeys, want.DeveloperKeys) || got.Limits != want.Limits ||
		got.SessionTTL != want.SessionTTL || got.CredentialTTL != want.CredentialTTL ||
		got.LambdaEndpoint != want.LambdaEndpoint || got.LambdaFunctionName != want.LambdaFunctionName {
		t.Errorf("ServerConfig() = %+v\nwant %+v", got, want)
	}

	// Defaults are AWS's.
	s, err = parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.ServerConfig(); d.Region != "us-east-1" || d.Limits != syncapi.DefaultLimits || d.SessionTTL != time.Hour ||
		d.CredentialTTL != time.Hour || d.AccountID != "000000000000" || len(d.DeveloperKeys) != 0 {
		t.Errorf("defaults: %+v", d)
	}
}

func TestService_ReportsBadValues(t *testing.T) {
	if _, err := parse(t, map[string]string{"P_SESSION_TTL": "forever", "P_DEVELOPER_KEYS": "nosecret"}); err == nil ||
		!strings.Contains(err.Error(), "P_SESSION_TTL") || !strings.Contains(err.Error(), "P_DEVELOPER_KEYS") {
		t.Errorf("bad variables: %v", err)
	}
	s, err := parse(t, nil, "--region", "", "--max-records", "0", "--credential-ttl", "0s", "--lambda-endpoint", "localhost:9000")
	if err != nil {
		t.Fatal(err)
	}
	errs := s.Validate()
	for _, want := range []string{"--region is required", "must be positive", "--session-ttl and --credential-ttl", "--lambda-endpoint must be"} {
		if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), want) }) {
			t.Errorf("Validate() = %v, does not say %q", errs, want)
		}
	}
}

// TestService_LoginFlags: --public-url and --oidc-provider (repeatable; its
// variable separates entries with ';') reach server.Config.Logins, and bad
// values are refused with the flag's name.
func TestService_LoginFlags(t *testing.T) {
	env := map[string]string{
		"P_PUBLIC_URL":     "https://sync.example.com",
		"P_OIDC_PROVIDERS": "issuer=https://a.example.com,audience=one,audience=two; issuer=http://127.0.0.1:9,audience=x",
	}
	s, err := parse(t, env)
	if err != nil {
		t.Fatal(err)
	}
	l := s.ServerConfig().Logins
	if l.PublicURL != "https://sync.example.com" || len(l.OIDCProviders) != 2 ||
		l.OIDCProviders[0].Issuer != "https://a.example.com" || !slices.Equal(l.OIDCProviders[0].Audiences, []string{"one", "two"}) ||
		l.OIDCProviders[1].Issuer != "http://127.0.0.1:9" {
		t.Errorf("from the environment: %+v", l)
	}
	s, err = parse(t, env, "--oidc-provider", "issuer=http://127.0.0.1:5556,audience=app", "--cognito-idp-url", "http://127.0.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	if l := s.ServerConfig().Logins; len(l.OIDCProviders) != 1 || l.OIDCProviders[0].Issuer != "http://127.0.0.1:5556" || l.CognitoIDPURL != "http://127.0.0.1:7" {
		t.Errorf("the flag replaces the variable: %+v", l)
	}
	if errs := s.Validate(); len(errs) != 0 {
		t.Errorf("Validate: %v", errs)
	}
	for _, bad := range []string{"issuer=http://login.example.com,audience=a", "issuer=https://a.example.com", "audience=a", "issuer=https://a.example.com,color=red"} {
		if _, err := parse(t, nil, "--oidc-provider", bad); err == nil {
			t.Errorf("--oidc-provider %q accepted", bad)
		}
	}
	s, _ = parse(t, nil, "--public-url", "sync.example.com", "--google-issuer", "ftp://x")
	if errs := s.Validate(); len(errs) != 2 {
		t.Errorf("Validate of a bad --public-url and --google-issuer: %v", errs)
	}
}
