package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/server"
)

// TestConfig_PushFlagsForTheEmbeddedMode: the embedded syncd takes syncd's
// push flags, with the worker's COGNITOSYNC_ variables, into the one
// server.Config both programs build syncd from; bad ones are refused.
func TestConfig_PushFlagsForTheEmbeddedMode(t *testing.T) {
	env := map[string]string{"COGNITOSYNC_PUSH_VIA": "webhook", "COGNITOSYNC_PUSH_COALESCE": "2s"}
	c, _, err := parseConfig("worker", []string{"--push-webhook", "http://127.0.0.1:9/push", "--push-webhook-secret", "s"},
		func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := server.Push{Via: "webhook", Webhook: "http://127.0.0.1:9/push", WebhookSecret: "s", Coalesce: 2 * time.Second, LeaseTTL: 15 * time.Second}
	if got := c.ServerConfig().Push; got != want {
		t.Errorf("Push = %+v, want %+v", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("valid push flags refused: %v", err)
	}
	c, _, err = parseConfig("worker", []string{"--push-via", "webhook"}, noenv, &bytes.Buffer{})
	if err == nil {
		err = c.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "--push-via webhook needs --push-webhook URL") {
		t.Errorf("--push-via webhook without a URL: %v", err)
	}
}
