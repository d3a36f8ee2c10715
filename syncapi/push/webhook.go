package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cognitosync/cognitosync/sinks/webhook"
)

// WebhookConfig configures a webhook Notifier.
type WebhookConfig struct {
	URL string // required; http:// or https://
	// Secret signs every request as the worker's webhook sink does
	// (sinks/webhook: X-Cognitosync-Timestamp and X-Cognitosync-Signature,
	// sha256=HMAC-SHA256(Secret, timestamp + "." + body)); receivers check
	// it with webhook.Verify. nil: unsigned.
	Secret []byte
	Client *http.Client // nil: a client with a 10 s timeout
	Now    func() time.Time
}

// WebhookBody is the JSON a webhook Notifier POSTs, one per notification.
type WebhookBody struct {
	DeviceID       string          `json:"deviceId"`
	Platform       string          `json:"platform"`
	Token          string          `json:"token"`
	IdentityPoolID string          `json:"identityPoolId"`
	IdentityID     string          `json:"identityId"`
	DatasetName    string          `json:"datasetName"`
	SyncCount      int64           `json:"syncCount"`
	Message        json.RawMessage `json:"message"` // the platform-framed payload (Message)
}

type webhookNotifier struct {
	c WebhookConfig
}

// NewWebhook returns a Notifier that POSTs each notification as a
// WebhookBody to c.URL, for a gateway of the operator's own. The
// idempotency key header (webhook.HeaderIdempotencyKey) names the device
// and sync count, so a receiver can drop a redelivery. 2xx is delivered;
// 410 Gone means the device's token is dead (the device is unregistered);
// 408, 429 and 5xx are retried; any other status is permanent.
func NewWebhook(c WebhookConfig) (Notifier, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("push webhook: want an http:// or https:// URL, got %q", c.URL)
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &webhookNotifier{c: c}, nil
}

func (w *webhookNotifier) Backend() string { return "webhook" }

func (w *webhookNotifier) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(WebhookBody{
		DeviceID: n.DeviceID, Platform: n.Platform, Token: n.Token,
		IdentityPoolID: n.Key.PoolID, IdentityID: n.Key.IdentityID, DatasetName: n.Key.Name,
		SyncCount: n.SyncCount, Message: n.Message,
	})
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.c.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	idem := sha256.Sum256([]byte(n.Key.String() + "\x00" + n.DeviceID + "\x00" + strconv.FormatInt(n.SyncCount, 10)))
	req.Header.Set(webhook.HeaderIdempotencyKey, hex.EncodeToString(idem[:]))
	if w.c.Secret != nil {
		ts := strconv.FormatInt(w.c.Now().Unix(), 10)
		req.Header.Set(webhook.HeaderTimestamp, ts)
		req.Header.Set(webhook.HeaderSignature, "sha256="+webhook.Sign(w.c.Secret, ts, body))
	}
	resp, err := w.c.Client.Do(req)
	if err != nil {
		return fmt.Errorf("push webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	err = fmt.Errorf("push webhook: %s: %q", resp.Status, msg)
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusGone:
		return errors.Join(ErrDeadToken, err)
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return err
	}
	return Permanent(err)
}
