package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/syncapi"
)

// describe calls DescribeDataset with the v1 SDK and returns its error.
func describe(t *testing.T, url string) error {
	t.Helper()
	_, err := newSDK(t, url).DescribeDataset(&cognitosync.DescribeDatasetInput{
		IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID), DatasetName: aws.String(dsName)})
	return err
}

func requireAWSError(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var rf awserr.RequestFailure
	if !errors.As(err, &rf) {
		t.Fatalf("error %T %v is not an awserr.RequestFailure", err, err)
	}
	if rf.Code() != code || rf.StatusCode() != status || (msg != "" && rf.Message() != msg) {
		t.Errorf("got %s %d %q, want %s %d %q", rf.Code(), rf.StatusCode(), rf.Message(), code, status, msg)
	}
	if rf.RequestID() == "" {
		t.Error("SDK saw no request id")
	}
}

// TestSyncErrors_SDK checks that each domain error reaches the SDK with the
// model's code, status and the domain message.
func TestSyncErrors_SDK(t *testing.T) {
	cases := []struct {
		err    error
		code   string
		status int
		msg    string
	}{
		{syncapi.Errorf(syncapi.ErrNotFound, "Dataset %s not found", dsName), "ResourceNotFoundException", 404, "Dataset settings not found"},
		{fmt.Errorf("describe: %w", &syncapi.ConflictError{Key: "k", Current: 7, Sent: 5}), "ResourceConflictException", 409, "Current SyncCount for: k is: 7 not: 5"},
		{syncapi.Errorf(syncapi.ErrLimitExceeded, "too many datasets"), "LimitExceededException", 400, "too many datasets"},
		{syncapi.Errorf(syncapi.ErrTooManyRequests, "slow down"), "TooManyRequestsException", 429, "slow down"},
		{syncapi.Errorf(syncapi.ErrNotAuthorized, "Access to the identity is forbidden"), "NotAuthorizedException", 403, "Access to the identity is forbidden"},
		{syncapi.Errorf(syncapi.ErrInvalidConfig, "no push config"), "InvalidConfigurationException", 400, "no push config"},
		{syncapi.Errorf(syncapi.ErrDuplicateRequest, "in progress"), "DuplicateRequestException", 400, "in progress"},
		{syncapi.Errorf(syncapi.ErrAlreadyStreamed, "already"), "AlreadyStreamedException", 400, "already"},
		{syncapi.Errorf(syncapi.ErrConcurrentModify, "parallel"), "ConcurrentModificationException", 400, "parallel"},
		{syncapi.Errorf(syncapi.ErrLambdaOutput, "bad output"), "InvalidLambdaFunctionOutputException", 400, "bad output"},
		{syncapi.Errorf(syncapi.ErrLambdaThrottled, "throttled"), "LambdaThrottledException", 429, "throttled"},
		{&syncapi.ValidationError{Field: "DatasetName", Reason: "too long"}, "InvalidParameterException", 400, "DatasetName: too long"},
		{errors.New("pq: connection refused to 10.0.0.5"), "InternalErrorException", 500, "An internal error occurred."},
		{fmt.Errorf("x: %w", syncapi.ErrInternal), "InternalErrorException", 500, "An internal error occurred."},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			s := newServer(t)
			s.sync.DescribeDatasetFn = func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
				return syncapi.DatasetOutput{}, tc.err
			}
			requireAWSError(t, describe(t, s.URL), tc.code, tc.status, tc.msg)
		})
	}
}

func TestUpdateRecords_StaleSyncCount(t *testing.T) {
	s := newServer(t)
	s.sync.UpdateRecordsFn = func(context.Context, syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
		return syncapi.UpdateRecordsOutput{}, fmt.Errorf("update records: %w", &syncapi.ConflictError{Key: "k", Current: 7, Sent: 5})
	}
	_, err := newSDK(t, s.URL).UpdateRecords(&cognitosync.UpdateRecordsInput{IdentityPoolId: aws.String(poolID),
		IdentityId: aws.String(idID), DatasetName: aws.String(dsName), SyncSessionToken: aws.String("sst"),
		RecordPatches: []*cognitosync.RecordPatch{{Op: aws.String("replace"), Key: aws.String("k"), Value: aws.String("v"), SyncCount: aws.Int64(5)}}})
	requireAWSError(t, err, "ResourceConflictException", 409, "Current SyncCount for: k is: 7 not: 5")
}

// TestAuthErrors_SDK checks that *syncapi.AuthError from the Authenticator
// surfaces with its AWS common code, and that the operation is not called.
func TestAuthErrors_SDK(t *testing.T) {
	cases := []struct {
		code   string
		status int
	}{
		{"MissingAuthenticationTokenException", 403},
		{"UnrecognizedClientException", 403},
		{"InvalidSignatureException", 403},
		{"ExpiredTokenException", 403},
		{"IncompleteSignatureException", 400},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			s := newServer(t)
			s.auth.Fn = func(*http.Request, string) (syncapi.Caller, error) {
				return syncapi.Caller{}, &syncapi.AuthError{Code: tc.code, Message: "auth says no"}
			}
			s.sync.DescribeDatasetFn = func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
				t.Error("operation called despite failed authentication")
				return syncapi.DatasetOutput{}, nil
			}
			requireAWSError(t, describe(t, s.URL), tc.code, tc.status, "auth says no")
		})
	}
}

// rawResponse is a response read over plain HTTP, without an SDK.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func doRaw(t *testing.T, method, url, body string, hdr map[string]string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{resp.StatusCode, resp.Header, b}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// requireRawError checks the complete AWS error shape of a raw response.
func requireRawError(t *testing.T, r rawResponse, status int, code, contentType string) (message string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := r.header.Get("X-Amzn-Errortype"); got != code {
		t.Errorf("x-amzn-ErrorType = %q, want %q", got, code)
	}
	var body struct {
		Type    string `json:"__type"`
		Message *string
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	if body.Type != code || body.Message == nil {
		t.Errorf("body = %s, want __type %s and a message", r.body, code)
	}
	requireCommonHeaders(t, r, contentType)
	if body.Message == nil {
		return ""
	}
	return *body.Message
}

func requireCommonHeaders(t *testing.T, r rawResponse, contentType string) {
	t.Helper()
	if id := r.header.Get("X-Amzn-Requestid"); !uuidV4.MatchString(id) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID v4", id)
	}
	if r.header.Get("Date") == "" {
		t.Error("no Date header")
	}
	if got := r.header.Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type = %q, want %q", got, contentType)
	}
}

func TestErrorWire_Raw(t *testing.T) {
	s := newServer(t)
	s.sync.DescribeDatasetFn = func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
		return syncapi.DatasetOutput{}, &syncapi.ConflictError{Key: "k", Current: 7, Sent: 5}
	}
	r := doRaw(t, "GET", s.URL+"/identitypools/p/identities/i/datasets/d", "", nil)
	if msg := requireRawError(t, r, 409, "ResourceConflictException", "application/json"); msg != "Current SyncCount for: k is: 7 not: 5" {
		t.Errorf("message = %q", msg)
	}
}

func TestInternalError_NotLeaked(t *testing.T) {
	s := newServer(t)
	s.sync.DescribeDatasetFn = func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
		return syncapi.DatasetOutput{}, errors.New("secret-dsn-password")
	}
	r := doRaw(t, "GET", s.URL+"/identitypools/p/identities/i/datasets/d", "", nil)
	requireRawError(t, r, 500, "InternalErrorException", "application/json")
	if strings.Contains(string(r.body), "secret") {
		t.Errorf("internal error text leaked: %s", r.body)
	}
}

func TestPanic_Recovered(t *testing.T) {
	s := newServer(t)
	s.sync.DescribeDatasetFn = func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
		panic("boom")
	}
	r := doRaw(t, "GET", s.URL+"/identitypools/p/identities/i/datasets/d", "", nil)
	requireRawError(t, r, 500, "InternalErrorException", "application/json")
	if strings.Contains(string(r.body), "boom") {
		t.Errorf("panic text leaked: %s", r.body)
	}
}
