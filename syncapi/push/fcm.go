package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// FCMScope is the OAuth scope of the FCM HTTP v1 API.
const FCMScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCMConfig configures the FCM HTTP v1 notifier.
type FCMConfig struct {
	// Credentials is a Google service account JSON key (required): its
	// project_id names the Firebase project, its token_uri is where
	// golang.org/x/oauth2/google exchanges a signed JWT for access tokens.
	Credentials []byte
	// Endpoint replaces https://fcm.googleapis.com (tests).
	Endpoint string
	// Client is the HTTP client of both the token exchange and the sends;
	// nil: one with a 10 s timeout.
	Client *http.Client
}

type fcmNotifier struct {
	client  *http.Client // adds the OAuth token
	url     string
	project string
}

// NewFCM returns a Notifier for GCM devices through the FCM HTTP v1 API
// (projects.messages.send) with a data message of spec F.4's keys. FCM's
// UNREGISTERED and NOT_FOUND mean a dead token.
func NewFCM(ctx context.Context, c FCMConfig) (Notifier, error) {
	base := c.Client
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	// The token source lives as long as the notifier: not bound to ctx.
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, base)
	creds, err := google.CredentialsFromJSONWithType(tctx, c.Credentials, google.ServiceAccount, FCMScope)
	if err != nil {
		return nil, fmt.Errorf("push: FCM credentials: want a service account JSON key: %w", err)
	}
	if creds.ProjectID == "" {
		return nil, errors.New("push: FCM credentials: the service account JSON has no project_id")
	}
	endpoint := strings.TrimSuffix(c.Endpoint, "/")
	if endpoint == "" {
		endpoint = "https://fcm.googleapis.com"
	}
	return &fcmNotifier{
		client:  &http.Client{Timeout: base.Timeout, Transport: &oauth2.Transport{Source: creds.TokenSource, Base: base.Transport}},
		url:     endpoint + "/v1/projects/" + creds.ProjectID + "/messages:send",
		project: creds.ProjectID,
	}, nil
}

func (*fcmNotifier) Backend() string { return "direct" }

// fcmError is the error body of the FCM v1 API.
type fcmError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

func (f *fcmNotifier) Send(ctx context.Context, n Notification) error {
	if n.Platform != PlatformGCM {
		return Permanent(fmt.Errorf("fcm: platform %s is not FCM's", n.Platform))
	}
	var framed struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(n.Message, &framed); err != nil {
		return Permanent(err)
	}
	body, _ := json.Marshal(map[string]any{"message": map[string]any{
		"token": n.Token, "data": framed.Data,
		"android": map[string]string{"priority": "HIGH"}, // a data message that wakes the app to sync
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var fe fcmError
	_ = json.Unmarshal(b, &fe)
	code := fe.Error.Status
	for _, d := range fe.Error.Details {
		if d.ErrorCode != "" {
			code = d.ErrorCode
		}
	}
	err = fmt.Errorf("fcm: %s %s: %s", resp.Status, code, fe.Error.Message)
	switch {
	case code == "UNREGISTERED" || code == "NOT_FOUND" || resp.StatusCode == http.StatusNotFound:
		return errors.Join(ErrDeadToken, err)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized:
		return err // quota, outage, or a token to refresh
	}
	return Permanent(err) // INVALID_ARGUMENT, SENDER_ID_MISMATCH, …
}
