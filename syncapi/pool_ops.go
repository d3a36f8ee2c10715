package syncapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"
)

// DescribeIdentityPoolUsage reports a pool's usage (spec C.9, C.11).
func (s *Service) DescribeIdentityPoolUsage(ctx context.Context, in PoolInput) (DescribeIdentityPoolUsageOutput, error) {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return DescribeIdentityPoolUsageOutput{}, err
	}
	if _, err := s.authorize(ctx, "DescribeIdentityPoolUsage", developerOnly, in.IdentityPoolID, ""); err != nil {
		return DescribeIdentityPoolUsageOutput{}, err
	}
	u, err := s.poolUsage(ctx, in.IdentityPoolID)
	if err != nil {
		return DescribeIdentityPoolUsageOutput{}, err
	}
	return DescribeIdentityPoolUsageOutput{IdentityPoolUsage: u}, nil
}

// poolUsage reads a pool's usage, adding sync sessions not flushed yet.
func (s *Service) poolUsage(ctx context.Context, id string) (IdentityPoolUsage, error) {
	u, err := s.c.Store.PoolUsage(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return u, Errorf(ErrNotFound, "IdentityPool '%s' not found.", id)
	}
	if err != nil {
		return u, fmt.Errorf("pool usage %s: %w", id, err)
	}
	s.mu.Lock()
	u.SyncSessionsCount += s.sessions[id]
	s.mu.Unlock()
	u.IdentityPoolID = id
	return u, nil
}

// ListIdentityPoolUsage lists every pool's usage; 60 per page by default.
func (s *Service) ListIdentityPoolUsage(ctx context.Context, in ListIdentityPoolUsageInput) (ListIdentityPoolUsageOutput, error) {
	if err := validateMaxResults(in.MaxResults); err != nil {
		return ListIdentityPoolUsageOutput{}, err
	}
	if _, err := s.authorize(ctx, "ListIdentityPoolUsage", developerOnly, "", ""); err != nil {
		return ListIdentityPoolUsageOutput{}, err
	}
	after, err := parseNameToken("nextToken", in.NextToken, ValidatePoolID)
	if err != nil {
		return ListIdentityPoolUsageOutput{}, err
	}
	limit := 60
	if in.MaxResults != nil {
		limit = min(int(*in.MaxResults), 1000)
	}
	pools, err := s.c.Store.ListPools(ctx, after, limit+1)
	if err != nil {
		return ListIdentityPoolUsageOutput{}, fmt.Errorf("list pools: %w", err)
	}
	out := ListIdentityPoolUsageOutput{MaxResults: limit, IdentityPoolUsages: []IdentityPoolUsage{}}
	if len(pools) > limit {
		pools = pools[:limit]
		out.NextToken = nameToken(pools[limit-1].ID())
	}
	for _, p := range pools {
		u, err := s.poolUsage(ctx, p.ID())
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return ListIdentityPoolUsageOutput{}, err
		}
		out.IdentityPoolUsages = append(out.IdentityPoolUsages, u)
	}
	out.Count = len(out.IdentityPoolUsages)
	return out, nil
}

// GetIdentityPoolConfiguration returns push-sync and stream configuration.
func (s *Service) GetIdentityPoolConfiguration(ctx context.Context, in PoolInput) (PoolConfiguration, error) {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return PoolConfiguration{}, err
	}
	if _, err := s.authorize(ctx, "GetIdentityPoolConfiguration", developerOnly, in.IdentityPoolID, ""); err != nil {
		return PoolConfiguration{}, err
	}
	p, err := s.pool(ctx, in.IdentityPoolID)
	if err != nil {
		return PoolConfiguration{}, err
	}
	return poolConfiguration(p), nil
}

func poolConfiguration(p Pool) PoolConfiguration {
	return PoolConfiguration{IdentityPoolID: p.ID(), PushSync: p.PushSync, CognitoStreams: p.CognitoStreams}
}

// SetIdentityPoolConfiguration replaces the members present and keeps the
// others (spec C.14), and echoes the resulting configuration.
func (s *Service) SetIdentityPoolConfiguration(ctx context.Context, in PoolConfiguration) (PoolConfiguration, error) {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return PoolConfiguration{}, err
	}
	if in.PushSync != nil {
		if err := validatePushSync(in.PushSync); err != nil {
			return PoolConfiguration{}, err
		}
	}
	if in.CognitoStreams != nil {
		if err := validateStreams(in.CognitoStreams); err != nil {
			return PoolConfiguration{}, err
		}
	}
	if _, err := s.authorize(ctx, "SetIdentityPoolConfiguration", developerOnly, in.IdentityPoolID, ""); err != nil {
		return PoolConfiguration{}, err
	}
	p, err := s.c.Store.UpdatePool(ctx, in.IdentityPoolID, func(p *Pool) error {
		if in.PushSync != nil {
			ps := *in.PushSync
			p.PushSync = &ps
		}
		if in.CognitoStreams != nil {
			cs := *in.CognitoStreams
			cs.DisabledReason = "" // output only
			if cs.StreamingStatus == "" {
				cs.StreamingStatus = StreamingEnabled // AWS's default for a configured stream
			}
			if cs.StreamingStatus == StreamingEnabled && cs.StreamName == "" {
				return invalid("CognitoStreams.StreamName", "is required when StreamingStatus is ENABLED")
			}
			p.CognitoStreams = &cs
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return PoolConfiguration{}, Errorf(ErrNotFound, "IdentityPool '%s' not found.", in.IdentityPoolID)
	}
	if err != nil {
		return PoolConfiguration{}, fmt.Errorf("set pool configuration %s: %w", in.IdentityPoolID, err)
	}
	return poolConfiguration(p), nil
}

// GetCognitoEvents returns the pool's event -> Lambda ARN map, {} when none.
func (s *Service) GetCognitoEvents(ctx context.Context, in PoolInput) (CognitoEventsOutput, error) {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return CognitoEventsOutput{}, err
	}
	if _, err := s.authorize(ctx, "GetCognitoEvents", developerOnly, in.IdentityPoolID, ""); err != nil {
		return CognitoEventsOutput{}, err
	}
	p, err := s.pool(ctx, in.IdentityPoolID)
	if err != nil {
		return CognitoEventsOutput{}, err
	}
	ev := maps.Clone(p.Events)
	if ev == nil {
		ev = map[string]string{}
	}
	return CognitoEventsOutput{Events: ev}, nil
}

// SetCognitoEvents sets (or, with an empty value, removes) the given event.
func (s *Service) SetCognitoEvents(ctx context.Context, in SetCognitoEventsInput) error {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return err
	}
	if in.Events == nil {
		return invalid("Events", "is required")
	}
	if len(in.Events) > 1 {
		return invalid("Events", "may hold at most 1 entry")
	}
	for k := range in.Events {
		if k != EventSyncTrigger {
			return invalid("Events", "unknown event type %q; the only event type is SyncTrigger", k)
		}
	}
	if _, err := s.authorize(ctx, "SetCognitoEvents", developerOnly, in.IdentityPoolID, ""); err != nil {
		return err
	}
	defer s.events.Remove(in.IdentityPoolID) // trigger.go caches Events
	_, err := s.c.Store.UpdatePool(ctx, in.IdentityPoolID, func(p *Pool) error {
		if p.Events == nil {
			p.Events = map[string]string{}
		}
		for k, v := range in.Events {
			if v == "" {
				delete(p.Events, k)
			} else {
				p.Events[k] = v
			}
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Errorf(ErrNotFound, "IdentityPool '%s' not found.", in.IdentityPoolID)
	}
	return err
}

// BulkPublish starts a bulk publish of the pool (spec D.3). ServiceConfig.Bulk
// publishes the records asynchronously; without it the job is
// recorded as FAILED with a message that says so.
func (s *Service) BulkPublish(ctx context.Context, in PoolInput) (BulkPublishOutput, error) {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return BulkPublishOutput{}, err
	}
	if _, err := s.authorize(ctx, "BulkPublish", developerOnly, in.IdentityPoolID, ""); err != nil {
		return BulkPublishOutput{}, err
	}
	p, err := s.pool(ctx, in.IdentityPoolID)
	if err != nil {
		return BulkPublishOutput{}, err
	}
	if p.CognitoStreams == nil || p.CognitoStreams.StreamingStatus != StreamingEnabled {
		return BulkPublishOutput{}, invalid("", "Cognito Streams is not enabled for IdentityPool '%s'; enable it with SetIdentityPoolConfiguration first", p.ID())
	}
	now := s.now()
	if err := s.c.Store.StartBulk(ctx, p.ID(), s.c.Owner, now, now.Add(-24*time.Hour)); err != nil {
		switch {
		case errors.Is(err, ErrDuplicateRequest):
			return BulkPublishOutput{}, Errorf(ErrDuplicateRequest, "A bulk publish is already in progress for IdentityPool '%s'.", p.ID())
		case errors.Is(err, ErrAlreadyStreamed):
			return BulkPublishOutput{}, Errorf(ErrAlreadyStreamed, "IdentityPool '%s' was bulk published less than 24 hours ago.", p.ID())
		}
		return BulkPublishOutput{}, fmt.Errorf("start bulk publish %s: %w", p.ID(), err)
	}
	failure := "this syncd has no stream publisher configured, so no records were published"
	if s.c.Bulk != nil {
		// The job outlives the request: its context only carries values.
		err := s.c.Bulk.RunBulk(context.WithoutCancel(ctx), p)
		if err == nil {
			return BulkPublishOutput{IdentityPoolID: p.ID()}, nil
		}
		failure = err.Error()
	}
	if err := s.c.Store.FinishBulk(ctx, p.ID(), BulkFailed, failure, s.now()); err != nil {
		return BulkPublishOutput{}, fmt.Errorf("finish bulk publish %s: %w", p.ID(), err)
	}
	return BulkPublishOutput{IdentityPoolID: p.ID()}, nil
}

// GetBulkPublishDetails reports the pool's last bulk publish.
func (s *Service) GetBulkPublishDetails(ctx context.Context, in PoolInput) (GetBulkPublishDetailsOutput, error) {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return GetBulkPublishDetailsOutput{}, err
	}
	if _, err := s.authorize(ctx, "GetBulkPublishDetails", developerOnly, in.IdentityPoolID, ""); err != nil {
		return GetBulkPublishDetailsOutput{}, err
	}
	if _, err := s.pool(ctx, in.IdentityPoolID); err != nil {
		return GetBulkPublishDetailsOutput{}, err
	}
	j, err := s.c.Store.GetBulk(ctx, in.IdentityPoolID)
	if err != nil {
		return GetBulkPublishDetailsOutput{}, fmt.Errorf("bulk publish details %s: %w", in.IdentityPoolID, err)
	}
	out := GetBulkPublishDetailsOutput{IdentityPoolID: in.IdentityPoolID, BulkPublishStatus: j.Status, FailureMessage: j.FailureMessage}
	if out.BulkPublishStatus == "" {
		out.BulkPublishStatus = BulkNotStarted
	}
	if !j.Started.IsZero() {
		out.BulkPublishStartTime = NewTime(j.Started)
	}
	if !j.Completed.IsZero() {
		out.BulkPublishCompleteTime = NewTime(j.Completed)
	}
	return out, nil
}

// ---- push sync: devices and subscriptions (spec F.2, F.3) ----

// pushPool loads the pool and checks push sync is configured.
func (s *Service) pushPool(ctx context.Context, id string) (Pool, error) {
	p, err := s.pool(ctx, id)
	if err != nil {
		return p, err
	}
	if p.PushSync == nil || len(p.PushSync.ApplicationArns) == 0 {
		return p, Errorf(ErrInvalidConfig, "Push sync is not configured for IdentityPool '%s'.", id)
	}
	return p, nil
}

// RegisterDevice registers a push token; the same (identity, platform, token)
// gets the same DeviceId.
func (s *Service) RegisterDevice(ctx context.Context, in RegisterDeviceInput) (RegisterDeviceOutput, error) {
	if err := validateIdentityPath(in.IdentityPoolID, in.IdentityID); err != nil {
		return RegisterDeviceOutput{}, err
	}
	if !platforms[in.Platform] {
		return RegisterDeviceOutput{}, invalid("Platform", "must be one of APNS, APNS_SANDBOX, GCM, ADM, got %q", in.Platform)
	}
	if in.Token == "" {
		return RegisterDeviceOutput{}, invalid("Token", "is required")
	}
	if err := ValidateText("Token", in.Token); err != nil {
		return RegisterDeviceOutput{}, err
	}
	c, err := s.authorize(ctx, "RegisterDevice", identityOnly, in.IdentityPoolID, in.IdentityID)
	if err != nil {
		return RegisterDeviceOutput{}, err
	}
	p, err := s.pushPool(ctx, in.IdentityPoolID)
	if errors.Is(err, ErrNotFound) {
		return RegisterDeviceOutput{}, errRevoked()
	}
	if err != nil {
		return RegisterDeviceOutput{}, err
	}
	if err := s.checkCaller(ctx, c, p.Generation); err != nil {
		return RegisterDeviceOutput{}, err
	}
	found := false
	for _, a := range p.PushSync.ApplicationArns {
		found = found || arnPlatform(a) == in.Platform
	}
	if !found {
		return RegisterDeviceOutput{}, Errorf(ErrInvalidConfig, "No platform application for platform %s is configured for IdentityPool '%s'.", in.Platform, p.ID())
	}
	id, err := s.c.Store.RegisterDevice(ctx, in.IdentityPoolID, in.IdentityID, in.Platform, in.Token, NewUUID())
	if errors.Is(err, ErrNotFound) { // the identity is gone (its pool was deleted meanwhile)
		return RegisterDeviceOutput{}, errRevoked()
	}
	if err != nil {
		return RegisterDeviceOutput{}, fmt.Errorf("register device: %w", err)
	}
	if h := s.c.DeviceRegistered; h != nil {
		if err := h(ctx, p, in.IdentityID, id, in.Platform, in.Token); err != nil {
			s.c.Log.Warn("push endpoint of a registered device", "identity_pool", p.ID(), "device", id, "err", err)
		}
	}
	return RegisterDeviceOutput{DeviceID: id}, nil
}

func (s *Service) subscription(ctx context.Context, op string, in SubscriptionInput) (DatasetKey, error) {
	k := DatasetKey{in.IdentityPoolID, in.IdentityID, in.DatasetName}
	if err := validateDatasetPath(k.PoolID, k.IdentityID, k.Name); err != nil {
		return k, err
	}
	if err := checkLen("DeviceId", in.DeviceID, 1, 256); err != nil {
		return k, err
	}
	if err := ValidateText("DeviceId", in.DeviceID); err != nil {
		return k, err
	}
	c, err := s.authorize(ctx, op, identityOnly, k.PoolID, k.IdentityID)
	if err != nil {
		return k, err
	}
	p, err := s.pushPool(ctx, k.PoolID)
	if errors.Is(err, ErrNotFound) {
		return k, errRevoked()
	}
	if err != nil {
		return k, err
	}
	if err := s.checkCaller(ctx, c, p.Generation); err != nil {
		return k, err
	}
	ok, err := s.c.Store.DeviceExists(ctx, k.PoolID, k.IdentityID, in.DeviceID)
	if err != nil {
		return k, err
	}
	if !ok {
		return k, Errorf(ErrNotFound, "Device '%s' not found.", in.DeviceID)
	}
	return k, nil
}

// SubscribeToDataset subscribes a registered device to an existing dataset.
func (s *Service) SubscribeToDataset(ctx context.Context, in SubscriptionInput) error {
	k, err := s.subscription(ctx, "SubscribeToDataset", in)
	if err != nil {
		return err
	}
	st, err := s.c.Store.GetDataset(ctx, k)
	if err != nil {
		return err
	}
	if !st.Exists {
		return datasetNotFound(k.Name)
	}
	if err := s.c.Store.Subscribe(ctx, k, in.DeviceID); err != nil {
		return fmt.Errorf("subscribe %s: %w", k, err)
	}
	return nil
}

// UnsubscribeFromDataset removes a subscription; ResourceNotFoundException
// when the device was not subscribed (Android relies on it).
func (s *Service) UnsubscribeFromDataset(ctx context.Context, in SubscriptionInput) error {
	k, err := s.subscription(ctx, "UnsubscribeFromDataset", in)
	if err != nil {
		return err
	}
	err = s.c.Store.Unsubscribe(ctx, k, in.DeviceID)
	if errors.Is(err, ErrNotFound) {
		return Errorf(ErrNotFound, "Device '%s' is not subscribed to dataset '%s'.", in.DeviceID, k.Name)
	}
	return err
}
