package syncapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cognitosync/cognitosync/internal/ttlcache"
)

// SyncTrigger (spec E): during UpdateRecords by an identity caller, a pool's
// SyncTrigger function sees every live record of the dataset plus the
// incoming changes and returns the set of changes to apply.

// TriggerEventVersion is the "version" of every SyncTrigger event (spec E.3).
const TriggerEventVersion = 2

// TriggerTimeout is how long a SyncTrigger function may take (spec E.5:
// fixed at 5 s by AWS); past it UpdateRecords fails with
// LambdaSocketTimeoutException.
const TriggerTimeout = 5 * time.Second

// eventsCacheTTL bounds how stale a pool's Events may be when UpdateRecords
// decides whether to invoke a trigger. SetCognitoEvents on this process
// forgets the entry at once; other processes sharing the store see the
// change within eventsCacheTTL.
const eventsCacheTTL = time.Second

// TriggerEvent is the SyncTrigger event and the function's answer (spec E.3).
// Its JSON is that of aws-lambda-go's events.CognitoEvent, but values are
// *string so that null (no value: a new key's oldValue, a removal's
// newValue) differs from "".
type TriggerEvent struct {
	Version        int                      `json:"version"`
	EventType      string                   `json:"eventType"`
	Region         string                   `json:"region"`
	IdentityPoolID string                   `json:"identityPoolId"`
	IdentityID     string                   `json:"identityId"`
	DatasetName    string                   `json:"datasetName"`
	DatasetRecords map[string]TriggerRecord `json:"datasetRecords"`
}

// TriggerRecord is one entry of TriggerEvent.DatasetRecords. Op is
// "replace" (NewValue is the value to store) or "remove".
type TriggerRecord struct {
	OldValue *string   `json:"oldValue"`
	NewValue *string   `json:"newValue"`
	Op       Operation `json:"op"`
}

// Removed reports whether the record ends up deleted: op "remove" or a null
// newValue (spec E.4).
func (r TriggerRecord) Removed() bool { return r.Op == OpRemove || r.NewValue == nil }

// Changed reports whether the record differs from its stored state (a
// removal, a new key, or a new value).
func (r TriggerRecord) Changed() bool {
	if r.Removed() {
		return r.OldValue != nil
	}
	return r.OldValue == nil || *r.OldValue != *r.NewValue
}

// TriggerInvoker runs a SyncTrigger function. Invoke returns the function's
// answer, or an error of kind ErrLambdaOutput (the function failed, could
// not be invoked or answered something that is not an event),
// ErrLambdaThrottled or ErrLambdaTimeout, made with Errorf. Implementations
// must honour ctx's deadline and be safe for concurrent use.
type TriggerInvoker interface {
	Invoke(ctx context.Context, functionArn string, ev TriggerEvent) (TriggerEvent, error)
}

// TriggerFunc adapts a function to TriggerInvoker.
type TriggerFunc func(ctx context.Context, functionArn string, ev TriggerEvent) (TriggerEvent, error)

// Invoke calls f.
func (f TriggerFunc) Invoke(ctx context.Context, functionArn string, ev TriggerEvent) (TriggerEvent, error) {
	return f(ctx, functionArn, ev)
}

// poolEvents is a cached pool's Events, with the generation they belong to.
type poolEvents struct {
	events     map[string]string
	generation int64
}

// eventsCacheSize bounds the pools whose Events one process remembers.
const eventsCacheSize = 4096

func newEventsCache(now func() time.Time) *ttlcache.Cache[string, poolEvents] {
	return ttlcache.New[string, poolEvents](ttlcache.Config{Size: eventsCacheSize, TTL: eventsCacheTTL, Now: now})
}

// syncTriggerArn returns the pool's SyncTrigger ARN, "" when none, for an
// identity caller; cached Events of another generation of the pool are
// not used, and a pool of another generation than the caller's revokes it.
func (s *Service) syncTriggerArn(ctx context.Context, c Caller) (string, error) {
	e, ok := s.events.Get(c.PoolID)
	if !ok || (c.PoolGeneration != 0 && e.generation != c.PoolGeneration) {
		p, err := s.c.Store.GetPool(ctx, c.PoolID)
		if errors.Is(err, ErrNotFound) {
			return "", errRevoked()
		}
		if err != nil {
			return "", fmt.Errorf("read pool %s: %w", c.PoolID, err)
		}
		e = poolEvents{events: p.Events, generation: p.Generation}
		s.events.Add(c.PoolID, e)
	}
	if err := s.checkCaller(ctx, c, e.generation); err != nil {
		return "", err
	}
	return e.events[EventSyncTrigger], nil
}

// triggerChanges runs the pool's SyncTrigger for an identity caller's
// patches and returns the changes to store (spec E.4); without a SyncTrigger
// it returns asIs, the patches' own changes.
//
// Client patches are conflict-checked before the function runs, so a stale
// request never reaches it. Keys the function modifies or adds are written
// with Expect = the SyncCount read here, so a concurrent writer of those
// keys makes the store fail the whole update with ResourceConflictException.
func (s *Service) triggerChanges(ctx context.Context, c Caller, k DatasetKey, patches []RecordPatch, asIs []Change) ([]Change, error) {
	arn, err := s.syncTriggerArn(ctx, c)
	if err != nil || arn == "" {
		return asIs, err
	}
	if s.c.Trigger == nil {
		return nil, Errorf(ErrLambdaOutput,
			"The identity pool has a SyncTrigger (%s) but this server has no Lambda invoker configured; refusing the update.", arn)
	}
	page, err := s.c.Store.ListRecords(ctx, k, RecordQuery{})
	if err != nil {
		return nil, fmt.Errorf("read records %s: %w", k, err)
	}
	stored := make(map[string]Record, len(page.Records))
	for _, r := range page.Records {
		stored[r.Key] = r
	}
	for _, p := range patches { // spec C.5 step 5, before the function sees anything
		cur, found := stored[p.Key]
		if !ExpectMatches(p.SyncCount, cur.SyncCount, found, page.Dataset.PurgedAt) {
			return nil, &ConflictError{Key: p.Key, Current: cur.SyncCount, Sent: p.SyncCount}
		}
	}

	in := TriggerEvent{
		Version: TriggerEventVersion, EventType: EventSyncTrigger, Region: s.c.Region,
		IdentityPoolID: k.PoolID, IdentityID: k.IdentityID, DatasetName: k.Name,
		DatasetRecords: make(map[string]TriggerRecord, len(stored)+len(patches)),
	}
	for key, r := range stored {
		if r.Value != nil {
			in.DatasetRecords[key] = TriggerRecord{OldValue: r.Value, NewValue: r.Value, Op: OpReplace}
		}
	}
	for _, p := range patches {
		tr := TriggerRecord{OldValue: stored[p.Key].Value, Op: p.Op}
		if p.Op == OpReplace {
			tr.NewValue = p.Value
		}
		in.DatasetRecords[p.Key] = tr
	}

	out, err := s.invokeTrigger(ctx, arn, in)
	if err != nil {
		return nil, err
	}
	if err := checkTriggerOutput(in, out); err != nil {
		return nil, err
	}

	var changes []Change
	patched := make(map[string]bool, len(patches))
	for _, p := range patches {
		patched[p.Key] = true
		r, kept := out.DatasetRecords[p.Key]
		if !kept {
			continue // left out: the user's change is not applied (spec E.4)
		}
		c := Change{Key: p.Key, Expect: &p.SyncCount}
		if !r.Removed() {
			c.Value = r.NewValue
		}
		if p.DeviceLastModifiedDate != nil {
			c.DeviceLastModified = p.DeviceLastModifiedDate.Time
		}
		changes = append(changes, c)
	}
	var added []Change
	for key, r := range out.DatasetRecords {
		if patched[key] {
			continue
		}
		cur := stored[key]
		var want *string
		if !r.Removed() {
			want = r.NewValue
		}
		if equalValue(cur.Value, want) {
			continue // unchanged: not rewritten, its SyncCount stays
		}
		expect := cur.SyncCount
		added = append(added, Change{Key: key, Value: want, Expect: &expect})
	}
	slices.SortFunc(added, func(a, b Change) int { return cmp.Compare(a.Key, b.Key) })
	return append(changes, added...), nil
}

// invokeTrigger calls the invoker within TriggerTimeout and maps whatever it
// returns to the errors of spec E.5.
func (s *Service) invokeTrigger(ctx context.Context, arn string, in TriggerEvent) (TriggerEvent, error) {
	tctx, cancel := context.WithTimeout(ctx, TriggerTimeout)
	defer cancel()
	start := time.Now()
	out, err := s.c.Trigger.Invoke(tctx, arn, in)
	log := s.c.Log.With("identity_pool", in.IdentityPoolID, "dataset", in.DatasetName, "function", arn,
		"duration", time.Since(start))
	if err == nil && tctx.Err() != nil && ctx.Err() == nil {
		err = context.DeadlineExceeded // an invoker that ignored the deadline
	}
	if err == nil {
		log.Debug("sync trigger invoked")
		return out, nil
	}
	log.Info("sync trigger failed", "err", err)
	var de *Error
	switch {
	case ctx.Err() != nil:
		return out, ctx.Err() // the client went away; nothing to report
	case errors.Is(err, ErrLambdaOutput), errors.Is(err, ErrLambdaThrottled), errors.Is(err, ErrLambdaTimeout):
		if errors.As(err, &de) {
			return out, err
		}
		return out, Errorf(kindOf(err), "SyncTrigger %s: %v", arn, err)
	case errors.Is(err, context.DeadlineExceeded) || tctx.Err() != nil:
		return out, Errorf(ErrLambdaTimeout, "SyncTrigger %s did not answer within %s.", arn, TriggerTimeout)
	default:
		return out, Errorf(ErrLambdaOutput, "SyncTrigger %s could not be invoked: %v", arn, err)
	}
}

func kindOf(err error) error {
	for _, k := range []error{ErrLambdaThrottled, ErrLambdaTimeout} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrLambdaOutput
}

// checkTriggerOutput rejects an answer that changed a read-only field or
// holds a record that could not be stored (spec E.4, E.5).
func checkTriggerOutput(in, out TriggerEvent) error {
	bad := func(format string, args ...any) error {
		return Errorf(ErrLambdaOutput, "SyncTrigger returned invalid output: "+format, args...)
	}
	switch {
	case out.Version != in.Version:
		return bad("version must stay %d, got %d", in.Version, out.Version)
	case out.EventType != in.EventType:
		return bad("eventType must stay %q, got %q", in.EventType, out.EventType)
	case out.Region != in.Region:
		return bad("region must stay %q, got %q", in.Region, out.Region)
	case out.IdentityPoolID != in.IdentityPoolID:
		return bad("identityPoolId must stay %q, got %q", in.IdentityPoolID, out.IdentityPoolID)
	case out.IdentityID != in.IdentityID:
		return bad("identityId must stay %q, got %q", in.IdentityID, out.IdentityID)
	case out.DatasetName != in.DatasetName:
		return bad("datasetName must stay %q, got %q", in.DatasetName, out.DatasetName)
	}
	for key, r := range out.DatasetRecords {
		// The same rules as a client's patches: what the function returns
		// is stored as they are (ValidateText: both stores agree).
		if err := ValidateKey("key", key); err != nil {
			return bad("record key %q: %v", key, err)
		}
		if r.Op != OpReplace && r.Op != OpRemove {
			return bad("record %q: op must be replace or remove, got %q", key, r.Op)
		}
		if r.Op == OpReplace && r.NewValue != nil {
			if err := ValidateValue("newValue", *r.NewValue); err != nil {
				return bad("record %q: %v", key, err)
			}
		}
	}
	return nil
}

func equalValue(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
