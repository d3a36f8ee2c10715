package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// fakeSync is a function-field syncapi.SyncAPI. A nil field answers the zero
// output and no error.
type fakeSync struct {
	BulkPublishFn                  func(context.Context, syncapi.PoolInput) (syncapi.BulkPublishOutput, error)
	DeleteDatasetFn                func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error)
	DescribeDatasetFn              func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error)
	DescribeIdentityPoolUsageFn    func(context.Context, syncapi.PoolInput) (syncapi.DescribeIdentityPoolUsageOutput, error)
	DescribeIdentityUsageFn        func(context.Context, syncapi.IdentityInput) (syncapi.DescribeIdentityUsageOutput, error)
	GetBulkPublishDetailsFn        func(context.Context, syncapi.PoolInput) (syncapi.GetBulkPublishDetailsOutput, error)
	GetCognitoEventsFn             func(context.Context, syncapi.PoolInput) (syncapi.CognitoEventsOutput, error)
	GetIdentityPoolConfigurationFn func(context.Context, syncapi.PoolInput) (syncapi.PoolConfiguration, error)
	ListDatasetsFn                 func(context.Context, syncapi.ListDatasetsInput) (syncapi.ListDatasetsOutput, error)
	ListIdentityPoolUsageFn        func(context.Context, syncapi.ListIdentityPoolUsageInput) (syncapi.ListIdentityPoolUsageOutput, error)
	ListRecordsFn                  func(context.Context, syncapi.ListRecordsInput) (syncapi.ListRecordsOutput, error)
	RegisterDeviceFn               func(context.Context, syncapi.RegisterDeviceInput) (syncapi.RegisterDeviceOutput, error)
	SetCognitoEventsFn             func(context.Context, syncapi.SetCognitoEventsInput) error
	SetIdentityPoolConfigurationFn func(context.Context, syncapi.PoolConfiguration) (syncapi.PoolConfiguration, error)
	SubscribeToDatasetFn           func(context.Context, syncapi.SubscriptionInput) error
	UnsubscribeFromDatasetFn       func(context.Context, syncapi.SubscriptionInput) error
	UpdateRecordsFn                func(context.Context, syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error)
}

var _ syncapi.SyncAPI = (*fakeSync)(nil)

func call[I, O any](fn func(context.Context, I) (O, error), ctx context.Context, in I) (O, error) {
	if fn == nil {
		var zero O
		return zero, nil
	}
	return fn(ctx, in)
}

func callErr[I any](fn func(context.Context, I) error, ctx context.Context, in I) error {
	if fn == nil {
		return nil
	}
	return fn(ctx, in)
}

func (f *fakeSync) BulkPublish(ctx context.Context, in syncapi.PoolInput) (syncapi.BulkPublishOutput, error) {
	return call(f.BulkPublishFn, ctx, in)
}
func (f *fakeSync) DeleteDataset(ctx context.Context, in syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
	return call(f.DeleteDatasetFn, ctx, in)
}
func (f *fakeSync) DescribeDataset(ctx context.Context, in syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
	return call(f.DescribeDatasetFn, ctx, in)
}
func (f *fakeSync) DescribeIdentityPoolUsage(ctx context.Context, in syncapi.PoolInput) (syncapi.DescribeIdentityPoolUsageOutput, error) {
	return call(f.DescribeIdentityPoolUsageFn, ctx, in)
}
func (f *fakeSync) DescribeIdentityUsage(ctx context.Context, in syncapi.IdentityInput) (syncapi.DescribeIdentityUsageOutput, error) {
	return call(f.DescribeIdentityUsageFn, ctx, in)
}
func (f *fakeSync) GetBulkPublishDetails(ctx context.Context, in syncapi.PoolInput) (syncapi.GetBulkPublishDetailsOutput, error) {
	return call(f.GetBulkPublishDetailsFn, ctx, in)
}
func (f *fakeSync) GetCognitoEvents(ctx context.Context, in syncapi.PoolInput) (syncapi.CognitoEventsOutput, error) {
	return call(f.GetCognitoEventsFn, ctx, in)
}
func (f *fakeSync) GetIdentityPoolConfiguration(ctx context.Context, in syncapi.PoolInput) (syncapi.PoolConfiguration, error) {
	return call(f.GetIdentityPoolConfigurationFn, ctx, in)
}
func (f *fakeSync) ListDatasets(ctx context.Context, in syncapi.ListDatasetsInput) (syncapi.ListDatasetsOutput, error) {
	return call(f.ListDatasetsFn, ctx, in)
}
func (f *fakeSync) ListIdentityPoolUsage(ctx context.Context, in syncapi.ListIdentityPoolUsageInput) (syncapi.ListIdentityPoolUsageOutput, error) {
	return call(f.ListIdentityPoolUsageFn, ctx, in)
}
func (f *fakeSync) ListRecords(ctx context.Context, in syncapi.ListRecordsInput) (syncapi.ListRecordsOutput, error) {
	return call(f.ListRecordsFn, ctx, in)
}
func (f *fakeSync) RegisterDevice(ctx context.Context, in syncapi.RegisterDeviceInput) (syncapi.RegisterDeviceOutput, error) {
	return call(f.RegisterDeviceFn, ctx, in)
}
func (f *fakeSync) SetCognitoEvents(ctx context.Context, in syncapi.SetCognitoEventsInput) error {
	return callErr(f.SetCognitoEventsFn, ctx, in)
}
func (f *fakeSync) SetIdentityPoolConfiguration(ctx context.Context, in syncapi.PoolConfiguration) (syncapi.PoolConfiguration, error) {
	return call(f.SetIdentityPoolConfigurationFn, ctx, in)
}
func (f *fakeSync) SubscribeToDataset(ctx context.Context, in syncapi.SubscriptionInput) error {
	return callErr(f.SubscribeToDatasetFn, ctx, in)
}
func (f *fakeSync) UnsubscribeFromDataset(ctx context.Context, in syncapi.SubscriptionInput) error {
	return callErr(f.UnsubscribeFromDatasetFn, ctx, in)
}
func (f *fakeSync) UpdateRecords(ctx context.Context, in syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
	return call(f.UpdateRecordsFn, ctx, in)
}

// fakeIdentity is a function-field syncapi.IdentityAPI; nil fields succeed
// with the zero output.
type fakeIdentity struct {
	CreateIdentityPoolFn                 func(context.Context, syncapi.IdentityPool) (syncapi.IdentityPool, error)
	DescribeIdentityPoolFn               func(context.Context, syncapi.IdentityPoolIDInput) (syncapi.IdentityPool, error)
	ListIdentityPoolsFn                  func(context.Context, syncapi.ListIdentityPoolsInput) (syncapi.ListIdentityPoolsOutput, error)
	UpdateIdentityPoolFn                 func(context.Context, syncapi.IdentityPool) (syncapi.IdentityPool, error)
	DeleteIdentityPoolFn                 func(context.Context, syncapi.IdentityPoolIDInput) error
	GetIDFn                              func(context.Context, syncapi.GetIDInput) (syncapi.GetIDOutput, error)
	GetCredentialsForIdentityFn          func(context.Context, syncapi.GetCredentialsForIdentityInput) (syncapi.GetCredentialsForIdentityOutput, error)
	GetOpenIDTokenFn                     func(context.Context, syncapi.GetOpenIDTokenInput) (syncapi.OpenIDTokenOutput, error)
	GetOpenIDTokenForDeveloperIdentityFn func(context.Context, syncapi.GetOpenIDTokenForDeveloperIdentityInput) (syncapi.OpenIDTokenOutput, error)
	LookupDeveloperIdentityFn            func(context.Context, syncapi.LookupDeveloperIdentityInput) (syncapi.LookupDeveloperIdentityOutput, error)
	MergeDeveloperIdentitiesFn           func(context.Context, syncapi.MergeDeveloperIdentitiesInput) (syncapi.IdentityIDOutput, error)
	UnlinkDeveloperIdentityFn            func(context.Context, syncapi.UnlinkDeveloperIdentityInput) error
	UnlinkIdentityFn                     func(context.Context, syncapi.UnlinkIdentityInput) error
	DescribeIdentityFn                   func(context.Context, syncapi.DescribeIdentityInput) (syncapi.IdentityDescription, error)
	ListIdentitiesFn                     func(context.Context, syncapi.ListIdentitiesInput) (syncapi.ListIdentitiesOutput, error)
	DeleteIdentitiesFn                   func(context.Context, syncapi.DeleteIdentitiesInput) (syncapi.DeleteIdentitiesOutput, error)
	GetIdentityPoolRolesFn               func(context.Context, syncapi.IdentityPoolIDInput) (syncapi.IdentityPoolRoles, error)
	SetIdentityPoolRolesFn               func(context.Context, syncapi.IdentityPoolRoles) error
}

var _ syncapi.IdentityAPI = (*fakeIdentity)(nil)

func (f *fakeIdentity) CreateIdentityPool(ctx context.Context, in syncapi.IdentityPool) (syncapi.IdentityPool, error) {
	return call(f.CreateIdentityPoolFn, ctx, in)
}
func (f *fakeIdentity) DescribeIdentityPool(ctx context.Context, in syncapi.IdentityPoolIDInput) (syncapi.IdentityPool, error) {
	return call(f.DescribeIdentityPoolFn, ctx, in)
}
func (f *fakeIdentity) ListIdentityPools(ctx context.Context, in syncapi.ListIdentityPoolsInput) (syncapi.ListIdentityPoolsOutput, error) {
	return call(f.ListIdentityPoolsFn, ctx, in)
}
func (f *fakeIdentity) UpdateIdentityPool(ctx context.Context, in syncapi.IdentityPool) (syncapi.IdentityPool, error) {
	return call(f.UpdateIdentityPoolFn, ctx, in)
}
func (f *fakeIdentity) DeleteIdentityPool(ctx context.Context, in syncapi.IdentityPoolIDInput) error {
	return callErr(f.DeleteIdentityPoolFn, ctx, in)
}
func (f *fakeIdentity) GetID(ctx context.Context, in syncapi.GetIDInput) (syncapi.GetIDOutput, error) {
	return call(f.GetIDFn, ctx, in)
}
func (f *fakeIdentity) GetCredentialsForIdentity(ctx context.Context, in syncapi.GetCredentialsForIdentityInput) (syncapi.GetCredentialsForIdentityOutput, error) {
	return call(f.GetCredentialsForIdentityFn, ctx, in)
}
func (f *fakeIdentity) GetOpenIDToken(ctx context.Context, in syncapi.GetOpenIDTokenInput) (syncapi.OpenIDTokenOutput, error) {
	return call(f.GetOpenIDTokenFn, ctx, in)
}
func (f *fakeIdentity) GetOpenIDTokenForDeveloperIdentity(ctx context.Context, in syncapi.GetOpenIDTokenForDeveloperIdentityInput) (syncapi.OpenIDTokenOutput, error) {
	return call(f.GetOpenIDTokenForDeveloperIdentityFn, ctx, in)
}
func (f *fakeIdentity) LookupDeveloperIdentity(ctx context.Context, in syncapi.LookupDeveloperIdentityInput) (syncapi.LookupDeveloperIdentityOutput, error) {
	return call(f.LookupDeveloperIdentityFn, ctx, in)
}
func (f *fakeIdentity) MergeDeveloperIdentities(ctx context.Context, in syncapi.MergeDeveloperIdentitiesInput) (syncapi.IdentityIDOutput, error) {
	return call(f.MergeDeveloperIdentitiesFn, ctx, in)
}
func (f *fakeIdentity) UnlinkDeveloperIdentity(ctx context.Context, in syncapi.UnlinkDeveloperIdentityInput) error {
	return callErr(f.UnlinkDeveloperIdentityFn, ctx, in)
}
func (f *fakeIdentity) UnlinkIdentity(ctx context.Context, in syncapi.UnlinkIdentityInput) error {
	return callErr(f.UnlinkIdentityFn, ctx, in)
}
func (f *fakeIdentity) DescribeIdentity(ctx context.Context, in syncapi.DescribeIdentityInput) (syncapi.IdentityDescription, error) {
	return call(f.DescribeIdentityFn, ctx, in)
}
func (f *fakeIdentity) ListIdentities(ctx context.Context, in syncapi.ListIdentitiesInput) (syncapi.ListIdentitiesOutput, error) {
	return call(f.ListIdentitiesFn, ctx, in)
}
func (f *fakeIdentity) DeleteIdentities(ctx context.Context, in syncapi.DeleteIdentitiesInput) (syncapi.DeleteIdentitiesOutput, error) {
	return call(f.DeleteIdentitiesFn, ctx, in)
}
func (f *fakeIdentity) GetIdentityPoolRoles(ctx context.Context, in syncapi.IdentityPoolIDInput) (syncapi.IdentityPoolRoles, error) {
	return call(f.GetIdentityPoolRolesFn, ctx, in)
}
func (f *fakeIdentity) SetIdentityPoolRoles(ctx context.Context, in syncapi.IdentityPoolRoles) error {
	return callErr(f.SetIdentityPoolRolesFn, ctx, in)
}

// fakeAuth is a function-field Authenticator that records the signing
// services it was asked for. A nil Fn accepts every request as testCaller.
// Fn runs in the header step, before the body is read.
type fakeAuth struct {
	Fn func(r *http.Request, service string) (syncapi.Caller, error)

	mu       sync.Mutex
	services []string
	mustSign [][]string
}

var _ httpapi.Authenticator = (*fakeAuth)(nil)

var testCaller = syncapi.Caller{AccessKeyID: "AKIDTEST", Developer: true, AccountID: "123456789012"}

func (a *fakeAuth) Authenticate(r *http.Request, service string, mustSign ...string) (httpapi.VerifyPayload, error) {
	a.mu.Lock()
	a.services = append(a.services, service)
	a.mustSign = append(a.mustSign, mustSign)
	a.mu.Unlock()
	c := testCaller
	if a.Fn != nil {
		var err error
		if c, err = a.Fn(r, service); err != nil {
			return nil, err
		}
	}
	return func([32]byte) (syncapi.Caller, error) { return c, nil }, nil
}

func (a *fakeAuth) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.services...)
}

// requireSigV4 is an Authenticator function that accepts only requests the
// SDK signed for service, as a real verifier would look at them.
func requireSigV4(t testing.TB) func(*http.Request, string) (syncapi.Caller, error) {
	return func(r *http.Request, service string) (syncapi.Caller, error) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, "/us-east-1/"+service+"/aws4_request") {
			t.Errorf("Authorization %q is not a SigV4 signature for %s", auth, service)
			return syncapi.Caller{}, &syncapi.AuthError{Code: "MissingAuthenticationTokenException", Message: "missing"}
		}
		return testCaller, nil
	}
}

type server struct {
	*httptest.Server
	sync     *fakeSync
	identity *fakeIdentity
	auth     *fakeAuth
}

// newServer serves a handler over fakes, configured further by opts.
func newServer(t testing.TB, opts ...func(*httpapi.Config)) *server {
	t.Helper()
	s := &server{sync: &fakeSync{}, identity: &fakeIdentity{}, auth: &fakeAuth{}}
	c := httpapi.Config{Sync: s.sync, Identity: s.identity, Auth: s.auth}
	for _, o := range opts {
		o(&c)
	}
	h, err := httpapi.NewHandler(c)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	s.Server = httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// ts builds a millisecond timestamp.
func ts(ms int64) syncapi.Time { return syncapi.TimeFromMillis(ms) }

func ptr[T any](v T) *T { return &v }

// msEqual compares an SDK time with a wire time at millisecond precision.
func msEqual(a time.Time, b syncapi.Time) bool { return a.UnixMilli() == b.UnixMilli() }
