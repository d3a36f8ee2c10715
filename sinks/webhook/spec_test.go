package webhook_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
	"github.com/cognitosync/cognitosync/sinks/webhook"
)

// TestSpec_SecretEnv: the key comes from the variable secret_env names, so
// the receiver verifies requests signed with it.
func TestSpec_SecretEnv(t *testing.T) {
	rc := newReceiver(t, nil)
	s := webhook.Spec{URL: rc.URL, Secret: "not this one", SecretEnv: "HOOK_SECRET"}
	deps := pipeline.SinkDeps{Name: "hook", Getenv: func(k string) string {
		return map[string]string{"HOOK_SECRET": string(secret)}[k]
	}}
	if err := s.Validate(deps); err != nil {
		t.Fatal(err)
	}
	sink, err := s.Build(context.Background(), deps)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if sink.Name() != "hook" {
		t.Errorf("Name() = %q, want hook", sink.Name())
	}
	if err := sink.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	_, changes, _ := rc.snapshot()
	sinktest.Equal(t, sinktest.Fold(changes), sinktest.Fold(batch))
}

func TestSpec_Validate(t *testing.T) {
	env := func(k string) string { return map[string]string{"SET": "x"}[k] }
	for _, tc := range []struct {
		name string
		s    webhook.Spec
		want string // "": valid
	}{
		{"Secret", webhook.Spec{URL: "https://h/x", Secret: "s"}, ""},
		{"SecretEnv", webhook.Spec{URL: "https://h/x", SecretEnv: "SET"}, ""},
		{"SecretEnvUnset", webhook.Spec{URL: "https://h/x", SecretEnv: "UNSET", Secret: "ignored"}, "secret_env: the environment variable UNSET is empty"},
		{"NoSecret", webhook.Spec{URL: "https://h/x"}, "Secret is required"},
		{"BadURL", webhook.Spec{URL: "h/x", Secret: "s"}, "must be an absolute http or https URL"},
		{"NegativeLimit", webhook.Spec{URL: "https://h/x", Secret: "s", MaxAttempts: -1}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate(pipeline.SinkDeps{Getenv: env})
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
