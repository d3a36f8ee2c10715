package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

// definePush declares the push sync flags (README "Push sync").
func (s *Service) definePush(fs *flag.FlagSet, env *Env, p, scope string) {
	ps := &s.Push
	fs.StringVar(&ps.Via, "push-via", env.String(p+"PUSH_VIA", server.PushViaSNS), fmt.Sprintf(
		"%show push sync notifications reach devices subscribed to a changed dataset: sns (Amazon SNS, the pool's PushSync\n"+
			"ApplicationArns, as AWS does), direct (FCM HTTP v1 and APNs with --fcm-credentials / --apns-key), webhook (a POST per\n"+
			"notification to --push-webhook) or none (keep them queued) [%sPUSH_VIA]", scope, p))
	fs.DurationVar(&ps.Coalesce, "push-coalesce", env.Duration(p+"PUSH_COALESCE", push.DefaultCoalesce), fmt.Sprintf(
		"%sa device gets one notification per dataset per window this long, carrying the latest sync count [%sPUSH_COALESCE]", scope, p))
	fs.DurationVar(&ps.LeaseTTL, "push-lease-ttl", env.Duration(p+"PUSH_LEASE_TTL", push.DefaultLeaseTTL), fmt.Sprintf(
		"%sone syncd of those sharing a store sends notifications; if it dies, another takes over after this long [%sPUSH_LEASE_TTL]", scope, p))
	fs.StringVar(&ps.SNSEndpoint, "sns-endpoint", env.String(p+"SNS_ENDPOINT", ""), fmt.Sprintf(
		"%sURL of an SNS-compatible endpoint for --push-via sns (default: AWS SNS, configured by the standard AWS environment) [%sSNS_ENDPOINT]", scope, p))
	fs.StringVar(&ps.FCMCredentials, "fcm-credentials", env.String(p+"FCM_CREDENTIALS", ""), fmt.Sprintf(
		"%sFirebase service account JSON key file for --push-via direct: GCM devices get FCM HTTP v1 messages [%sFCM_CREDENTIALS]", scope, p))
	fs.StringVar(&ps.FCMEndpoint, "fcm-endpoint", env.String(p+"FCM_ENDPOINT", ""), fmt.Sprintf(
		"%sURL replacing https://fcm.googleapis.com, e.g. for tests [%sFCM_ENDPOINT]", scope, p))
	fs.StringVar(&ps.APNsKey, "apns-key", env.String(p+"APNS_KEY", ""), fmt.Sprintf(
		"%sAPNs token signing key (.p8 file) for --push-via direct: APNS and APNS_SANDBOX devices get background pushes;\n"+
			"needs --apns-key-id, --apns-team-id and --apns-topic [%sAPNS_KEY]", scope, p))
	fs.StringVar(&ps.APNsKeyID, "apns-key-id", env.String(p+"APNS_KEY_ID", ""), fmt.Sprintf("%sthe key id of --apns-key [%sAPNS_KEY_ID]", scope, p))
	fs.StringVar(&ps.APNsTeamID, "apns-team-id", env.String(p+"APNS_TEAM_ID", ""), fmt.Sprintf("%syour Apple developer team id [%sAPNS_TEAM_ID]", scope, p))
	fs.StringVar(&ps.APNsTopic, "apns-topic", env.String(p+"APNS_TOPIC", ""), fmt.Sprintf("%sthe app's bundle id [%sAPNS_TOPIC]", scope, p))
	fs.StringVar(&ps.APNsEndpoint, "apns-endpoint", env.String(p+"APNS_ENDPOINT", ""), fmt.Sprintf(
		"%sURL replacing both APNs hosts (default: api.push.apple.com for APNS, api.sandbox.push.apple.com for APNS_SANDBOX) [%sAPNS_ENDPOINT]", scope, p))
	fs.StringVar(&ps.Webhook, "push-webhook", env.String(p+"PUSH_WEBHOOK", ""), fmt.Sprintf(
		"%sURL that --push-via webhook POSTs each notification to as JSON (deviceId, platform, token, identityPoolId,\n"+
			"identityId, datasetName, syncCount, message) [%sPUSH_WEBHOOK]", scope, p))
	fs.StringVar(&ps.WebhookSecret, "push-webhook-secret", env.String(p+"PUSH_WEBHOOK_SECRET", ""), fmt.Sprintf(
		"%ssign --push-webhook requests with this HMAC key, as the worker's webhook sink does (X-Cognitosync-Signature) [%sPUSH_WEBHOOK_SECRET]", scope, p))
}

// validatePush reports push flags that cannot work together.
func validatePush(p server.Push) []error {
	var errs []error
	set := func(flags map[string]string) []string {
		var out []string
		for f, v := range flags {
			if v != "" {
				out = append(out, f)
			}
		}
		sort.Strings(out)
		return out
	}
	webhook := map[string]string{"--push-webhook": p.Webhook, "--push-webhook-secret": p.WebhookSecret}
	fcm := map[string]string{"--fcm-credentials": p.FCMCredentials, "--fcm-endpoint": p.FCMEndpoint}
	apns := map[string]string{"--apns-key": p.APNsKey, "--apns-key-id": p.APNsKeyID, "--apns-team-id": p.APNsTeamID,
		"--apns-topic": p.APNsTopic, "--apns-endpoint": p.APNsEndpoint}
	sns := map[string]string{"--sns-endpoint": p.SNSEndpoint}
	others := map[string][]map[string]string{
		server.PushViaSNS: {webhook, fcm, apns}, server.PushViaDirect: {webhook, sns},
		server.PushViaWebhook: {fcm, apns, sns}, server.PushViaNone: {webhook, fcm, apns, sns},
	}
	groups, ok := others[p.Via]
	if !ok {
		return []error{fmt.Errorf("--push-via must be sns, direct, webhook or none, got %q", p.Via)}
	}
	for _, g := range groups {
		for _, f := range set(g) {
			errs = append(errs, fmt.Errorf("%s is set but --push-via is %s, which does not use it", f, p.Via))
		}
	}
	switch p.Via {
	case server.PushViaWebhook:
		if p.Webhook == "" {
			errs = append(errs, errors.New("--push-via webhook needs --push-webhook URL"))
		} else if err := httpURL(p.Webhook); err != nil {
			errs = append(errs, fmt.Errorf("--push-webhook: %w", err))
		}
	case server.PushViaDirect:
		if p.FCMCredentials == "" && p.APNsKey == "" {
			errs = append(errs, errors.New("--push-via direct needs --fcm-credentials FILE (GCM devices), --apns-key FILE (APNS devices) or both"))
		}
		if p.APNsKey != "" && (p.APNsKeyID == "" || p.APNsTeamID == "" || p.APNsTopic == "") {
			errs = append(errs, errors.New("--apns-key needs --apns-key-id, --apns-team-id and --apns-topic"))
		}
		if p.APNsKey == "" && (p.APNsKeyID != "" || p.APNsTeamID != "" || p.APNsTopic != "" || p.APNsEndpoint != "") {
			errs = append(errs, errors.New("--apns-key-id, --apns-team-id, --apns-topic and --apns-endpoint need --apns-key"))
		}
		if p.FCMCredentials == "" && p.FCMEndpoint != "" {
			errs = append(errs, errors.New("--fcm-endpoint needs --fcm-credentials"))
		}
	}
	for f, u := range map[string]string{"--sns-endpoint": p.SNSEndpoint, "--fcm-endpoint": p.FCMEndpoint, "--apns-endpoint": p.APNsEndpoint} {
		if u != "" {
			if err := httpURL(u); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
			}
		}
	}
	if p.Coalesce <= 0 || p.LeaseTTL <= 0 {
		errs = append(errs, errors.New("--push-coalesce and --push-lease-ttl must be positive"))
	}
	return errs
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s, " \t") {
		return fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	return nil
}
