package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

// Push backends (Push.Via).
const (
	PushViaNone    = "none"
	PushViaSNS     = "sns"
	PushViaDirect  = "direct"
	PushViaWebhook = "webhook"
)

// Push configures the delivery of push sync notifications (spec F.4,
// syncapi/push). Notifications are queued in the store whatever Via says;
// a Via of none leaves them there for a syncd that delivers.
type Push struct {
	// Via is sns (Amazon SNS: the pool's PushSync ApplicationArns),
	// direct (FCM HTTP v1 and APNs), webhook, or none; "": none.
	Via string
	// Notifier, when set, replaces Via's (tests).
	Notifier push.Notifier
	// Coalesce is the window a burst of changes is coalesced in;
	// 0: push.DefaultCoalesce. LeaseTTL: push.DefaultLeaseTTL.
	Coalesce, LeaseTTL time.Duration
	// Backoff spaces retries; zero: push's defaults (1 s up to 5 min).
	Backoff retry.Backoff

	// SNSEndpoint is an SNS-compatible endpoint; "": AWS SNS.
	SNSEndpoint string

	// FCMCredentials is a Firebase service account JSON file (its
	// project_id names the project, its token_uri issues OAuth tokens);
	// FCMEndpoint replaces https://fcm.googleapis.com.
	FCMCredentials, FCMEndpoint string
	// APNsKey is the .p8 token signing key file, with its key id, the
	// team id and the app's bundle id (topic). APNsEndpoint replaces both
	// APNs hosts (production for APNS, sandbox for APNS_SANDBOX devices);
	// APNsRootCAs, when set, are the only CAs its TLS certificate may
	// chain to (tests).
	APNsKey, APNsKeyID, APNsTeamID, APNsTopic, APNsEndpoint string
	APNsRootCAs                                             *x509.CertPool

	// Webhook is the URL of the webhook backend; WebhookSecret signs its
	// requests ("": unsigned).
	Webhook, WebhookSecret string
}

func (p Push) validate() []error {
	var errs []error
	switch p.Via {
	case "", PushViaNone, PushViaSNS:
	case PushViaWebhook:
		if p.Webhook == "" && p.Notifier == nil {
			errs = append(errs, errors.New("server: push via webhook needs Push.Webhook"))
		}
	case PushViaDirect:
		if p.Notifier == nil && p.FCMCredentials == "" && p.APNsKey == "" {
			errs = append(errs, errors.New("server: push via direct needs FCM credentials, an APNs key or both"))
		}
	default:
		errs = append(errs, fmt.Errorf("server: Push.Via must be sns, direct, webhook or none, got %q", p.Via))
	}
	if p.Coalesce < 0 || p.LeaseTTL < 0 {
		errs = append(errs, errors.New("server: Push.Coalesce and Push.LeaseTTL must not be negative"))
	}
	return errs
}

// newNotifier builds the notifier Push.Via names; nil for none.
func newNotifier(ctx context.Context, c Config) (push.Notifier, error) {
	p := c.Push
	if p.Notifier != nil {
		return p.Notifier, nil
	}
	switch p.Via {
	case PushViaSNS:
		if c.AWS == nil {
			return nil, errors.New("push via sns needs an AWS configuration")
		}
		client := sns.NewFromConfig(*c.AWS, func(o *sns.Options) {
			if p.SNSEndpoint != "" {
				o.BaseEndpoint = &p.SNSEndpoint
			}
		})
		return push.NewSNS(client), nil
	case PushViaWebhook:
		return push.NewWebhook(push.WebhookConfig{URL: p.Webhook, Secret: secret(p.WebhookSecret)})
	case PushViaDirect:
		var fcm, apns push.Notifier
		if p.FCMCredentials != "" {
			b, err := os.ReadFile(p.FCMCredentials)
			if err != nil {
				return nil, fmt.Errorf("push: read the FCM service account file: %w", err)
			}
			if fcm, err = push.NewFCM(ctx, push.FCMConfig{Credentials: b, Endpoint: p.FCMEndpoint}); err != nil {
				return nil, err
			}
		}
		if p.APNsKey != "" {
			b, err := os.ReadFile(p.APNsKey)
			if err != nil {
				return nil, fmt.Errorf("push: read the APNs key file: %w", err)
			}
			if apns, err = push.NewAPNs(push.APNsConfig{Key: b, KeyID: p.APNsKeyID, TeamID: p.APNsTeamID, Topic: p.APNsTopic,
				Endpoint: p.APNsEndpoint, RootCAs: p.APNsRootCAs}); err != nil {
				return nil, err
			}
		}
		return push.Direct(fcm, apns), nil
	}
	return nil, nil
}

func secret(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}
