package cliconfig_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/server"
)

// TestPush_FlagsReachTheServer: the push flags and their variables reach
// server.Config.Push; the default backend is sns, as AWS's.
func TestPush_FlagsReachTheServer(t *testing.T) {
	s, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.ServerConfig().Push; p.Via != server.PushViaSNS || p.Coalesce != time.Second || p.LeaseTTL != 15*time.Second {
		t.Errorf("defaults: %+v", p)
	}
	if errs := s.Validate(); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
	s, err = parse(t, map[string]string{"P_PUSH_VIA": "webhook", "P_PUSH_WEBHOOK": "http://env/hook", "P_PUSH_COALESCE": "3s"},
		"--push-webhook", "https://flag/hook", "--push-webhook-secret", "s3cret", "--push-lease-ttl", "5s")
	if err != nil {
		t.Fatal(err)
	}
	want := server.Push{Via: "webhook", Webhook: "https://flag/hook", WebhookSecret: "s3cret", Coalesce: 3 * time.Second, LeaseTTL: 5 * time.Second}
	if got := s.ServerConfig().Push; got != want {
		t.Errorf("Push = %+v, want %+v", got, want)
	}
	if errs := s.Validate(); len(errs) != 0 {
		t.Errorf("valid webhook flags refused: %v", errs)
	}
	s, err = parse(t, nil, "--push-via", "direct", "--fcm-credentials", "sa.json", "--fcm-endpoint", "http://127.0.0.1:1",
		"--apns-key", "k.p8", "--apns-key-id", "K", "--apns-team-id", "T", "--apns-topic", "com.example", "--apns-endpoint", "https://127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Validate(); len(errs) != 0 {
		t.Errorf("valid direct flags refused: %v", errs)
	}
	if p := s.ServerConfig().Push; p.FCMCredentials != "sa.json" || p.APNsTopic != "com.example" || p.APNsEndpoint != "https://127.0.0.1:2" {
		t.Errorf("direct: %+v", p)
	}
}

// TestPush_BadCombinationsSayWhatToDo: flags that cannot work are refused
// with the flag's name.
func TestPush_BadCombinationsSayWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--push-via", "pigeon"}, "--push-via must be sns, direct, webhook or none"},
		{[]string{"--push-via", "webhook"}, "--push-via webhook needs --push-webhook URL"},
		{[]string{"--push-via", "webhook", "--push-webhook", "not a url"}, "--push-webhook: want an http:// or https:// URL"},
		{[]string{"--push-webhook", "http://x"}, "--push-webhook is set but --push-via is sns"},
		{[]string{"--push-via", "direct"}, "--push-via direct needs --fcm-credentials FILE (GCM devices), --apns-key FILE (APNS devices) or both"},
		{[]string{"--push-via", "direct", "--apns-key", "k.p8"}, "--apns-key needs --apns-key-id, --apns-team-id and --apns-topic"},
		{[]string{"--push-via", "direct", "--fcm-credentials", "f", "--apns-topic", "x"}, "need --apns-key"},
		{[]string{"--push-via", "webhook", "--push-webhook", "http://x", "--sns-endpoint", "http://y"}, "--sns-endpoint is set but --push-via is webhook"},
		{[]string{"--push-via", "none", "--fcm-credentials", "f"}, "--fcm-credentials is set but --push-via is none"},
		{[]string{"--push-coalesce", "0s"}, "--push-coalesce and --push-lease-ttl must be positive"},
	} {
		s, err := parse(t, nil, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(s.Validate()...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
