package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"
)

// APNsConfig configures the APNs notifier (token-based authentication).
type APNsConfig struct {
	Key    []byte // the .p8 signing key (PEM, PKCS#8 ECDSA); required
	KeyID  string // required
	TeamID string // required
	Topic  string // the app's bundle id; required
	// Endpoint replaces both hosts (tests); "": api.push.apple.com for
	// APNS devices, api.sandbox.push.apple.com for APNS_SANDBOX.
	Endpoint string
	// RootCAs, when set, are the CAs the server certificate must chain to
	// (tests); nil: the system's.
	RootCAs *x509.CertPool
}

type apnsNotifier struct {
	prod, sandbox *apns2.Client
	topic         string
}

// NewAPNs returns a Notifier for APNS and APNS_SANDBOX devices: APNs'
// HTTP/2 provider API with token authentication, through
// github.com/sideshow/apns2, sending a background push (content-available,
// priority 5) whose payload is spec F.4's framing. 410 and BadDeviceToken
// mean a dead token.
func NewAPNs(c APNsConfig) (Notifier, error) {
	var errs []error
	key, err := token.AuthKeyFromBytes(c.Key)
	if err != nil {
		errs = append(errs, fmt.Errorf("push: APNs key: want a .p8 ECDSA key in PEM: %w", err))
	}
	for name, v := range map[string]string{"key id": c.KeyID, "team id": c.TeamID, "topic (bundle id)": c.Topic} {
		if v == "" {
			errs = append(errs, fmt.Errorf("push: APNs %s is required", name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	tok := &token.Token{AuthKey: key, KeyID: c.KeyID, TeamID: c.TeamID}
	client := func(host string) *apns2.Client {
		cl := apns2.NewTokenClient(tok)
		cl.Host = host
		if c.Endpoint != "" {
			cl.Host = c.Endpoint
		}
		tr := &http2.Transport{
			TLSClientConfig: &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
			ReadIdleTimeout: apns2.ReadIdleTimeout,
		}
		cl.HTTPClient = &http.Client{Transport: tr, Timeout: 10 * time.Second}
		return cl
	}
	return &apnsNotifier{prod: client(apns2.HostProduction), sandbox: client(apns2.HostDevelopment), topic: c.Topic}, nil
}

func (*apnsNotifier) Backend() string { return "direct" }

func (a *apnsNotifier) Send(ctx context.Context, n Notification) error {
	cl := a.prod
	switch n.Platform {
	case PlatformAPNS:
	case PlatformAPNSSandbox:
		cl = a.sandbox
	default:
		return Permanent(fmt.Errorf("apns: platform %s is not APNs'", n.Platform))
	}
	resp, err := cl.PushWithContext(ctx, &apns2.Notification{
		DeviceToken: n.Token, Topic: a.topic, Payload: []byte(n.Message),
		PushType: apns2.PushTypeBackground, Priority: apns2.PriorityLow, // Apple requires 5 for background pushes
	})
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	if resp.Sent() {
		return nil
	}
	err = fmt.Errorf("apns: %d %s", resp.StatusCode, resp.Reason)
	switch {
	case resp.StatusCode == http.StatusGone || resp.Reason == apns2.ReasonBadDeviceToken || resp.Reason == apns2.ReasonUnregistered:
		return errors.Join(ErrDeadToken, err)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusForbidden:
		return err // ExpiredProviderToken and the like are refreshed; outages pass
	}
	return Permanent(err)
}

// Direct returns a Notifier that sends GCM devices' notifications to fcm
// and APNS/APNS_SANDBOX devices' to apns; a platform without a notifier
// (nil, or ADM) is a permanent failure that names the missing setting.
func Direct(fcm, apns Notifier) Notifier { return direct{fcm, apns} }

type direct struct{ fcm, apns Notifier }

func (direct) Backend() string { return "direct" }

func (d direct) Send(ctx context.Context, n Notification) error {
	switch {
	case n.Platform == PlatformGCM && d.fcm != nil:
		return d.fcm.Send(ctx, n)
	case (n.Platform == PlatformAPNS || n.Platform == PlatformAPNSSandbox) && d.apns != nil:
		return d.apns.Send(ctx, n)
	case n.Platform == PlatformGCM:
		return Permanent(errors.New("direct push: a GCM device, but no FCM credentials (--fcm-credentials)"))
	case n.Platform == PlatformADM:
		return Permanent(errors.New("direct push: ADM devices need --push-via sns or webhook"))
	}
	return Permanent(fmt.Errorf("direct push: an %s device, but no APNs key (--apns-key)", n.Platform))
}
