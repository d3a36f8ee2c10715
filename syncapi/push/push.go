// Package push delivers push sync notifications (spec F.4): a Dispatcher
// drains the store's push queue (syncapi.PushQueue, written in the same
// transaction as each change) under a lease, so that one process of those
// sharing a store sends, and hands each notification to a Notifier: Amazon
// SNS (NewSNS), FCM HTTP v1 and APNs directly (NewFCM, NewAPNs, Direct), or
// a signed webhook (NewWebhook).
//
// Delivery is at least once: an entry leaves the queue only after its
// Notifier accepted it, so a process killed between commit and delivery,
// or between delivery and the queue's acknowledgement, leaves it for the
// next lease holder. A burst of changes to one dataset becomes one
// notification per device carrying the latest sync count: the queue
// coalesces entries, and the Dispatcher sends an entry only once it is
// Config.Coalesce old.
package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Platforms of spec F.2.
const (
	PlatformAPNS        = "APNS"
	PlatformAPNSSandbox = "APNS_SANDBOX"
	PlatformGCM         = "GCM"
	PlatformADM         = "ADM"
)

// Notification is one message to one device.
type Notification struct {
	syncapi.PushEntry
	// Pool is the device's identity pool (its PushSync ApplicationArns).
	Pool syncapi.Pool
	// Message is the platform-framed payload (Message), what the device
	// receives.
	Message json.RawMessage
}

// Notifier sends notifications through one push service. Send returns nil
// once the service accepted n; an error wrapping ErrDeadToken when the
// service says the device's token is no longer valid (the Dispatcher then
// unregisters the device); a *PermanentError when sending n again cannot
// succeed; any other error is retried with backoff. Safe for concurrent
// use.
type Notifier interface {
	Send(ctx context.Context, n Notification) error
	// Backend names the notifier in metrics: sns, direct or webhook.
	Backend() string
}

// Registrar is a Notifier that keeps an endpoint per device with the push
// service (SNS platform endpoints). Endpoint returns it for a device's
// token, creating it if needed.
type Registrar interface {
	Endpoint(ctx context.Context, pool syncapi.Pool, platform, token string) (string, error)
}

// ErrDeadToken is wrapped by Send errors that mean the device token is
// dead: FCM UNREGISTERED or NOT_FOUND, APNs 410 or BadDeviceToken, SNS
// EndpointDisabled.
var ErrDeadToken = errors.New("push: the device token is no longer valid")

// ErrEndpointGone is wrapped by Send errors that mean the device's endpoint
// kept with it no longer exists (an SNS endpoint deleted by an operator):
// the Dispatcher forgets it, and creates a new one on the next attempt.
var ErrEndpointGone = errors.New("push: the device's endpoint no longer exists")

// PermanentError is a failure that retrying cannot fix (a payload or
// configuration the push service refuses); the notification is dropped.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err in a *PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// data is the payload of spec F.4. syncCount is a string: Android parses
// it with Long.parseLong(extras.getString("syncCount")), and iOS reads the
// same dictionary.
type data struct {
	Source         string `json:"source"`
	IdentityPoolID string `json:"identityPoolId"`
	IdentityID     string `json:"identityId"`
	DatasetName    string `json:"datasetName"`
	SyncCount      string `json:"syncCount"`
}

type aps struct {
	ContentAvailable int `json:"content-available"`
}

// Data returns spec F.4's key/value payload of a change: the FCM data map.
func Data(k syncapi.DatasetKey, syncCount int64) map[string]string {
	return map[string]string{
		"source": "cognito-sync", "identityPoolId": k.PoolID, "identityId": k.IdentityID,
		"datasetName": k.Name, "syncCount": strconv.FormatInt(syncCount, 10),
	}
}

// Message returns the silent notification of spec F.4 framed for platform:
// GCM and ADM {"data":{…}}, APNS and APNS_SANDBOX
// {"aps":{"content-available":1},"data":{…}}.
func Message(platform string, k syncapi.DatasetKey, syncCount int64) (json.RawMessage, error) {
	d := data{Source: "cognito-sync", IdentityPoolID: k.PoolID, IdentityID: k.IdentityID, DatasetName: k.Name,
		SyncCount: strconv.FormatInt(syncCount, 10)}
	var v any
	switch platform {
	case PlatformGCM, PlatformADM:
		v = struct {
			Data data `json:"data"`
		}{d}
	case PlatformAPNS, PlatformAPNSSandbox:
		v = struct {
			APS  aps  `json:"aps"`
			Data data `json:"data"`
		}{aps{1}, d}
	default:
		return nil, fmt.Errorf("push: unknown platform %q", platform)
	}
	return json.Marshal(v)
}
