package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
)

const coralNS = ":http://internal.amazon.com/coral/com.amazonaws.cognito.sync.model/"

// TestErrors_CodeForms checks spec A.5 parsing: the code in the header only
// (with AWS's ":namespace" suffix), in body __type (suffix or "ns#" prefix)
// and in body code, with message or Message; errors.Is against the syncapi
// sentinels and errors.As to *APIError; one attempt for every non-throttling
// 4xx.
func TestErrors_CodeForms(t *testing.T) {
	codes := []struct {
		code     string
		status   int
		sentinel error // nil: no sentinel
	}{
		{"ResourceConflictException", 409, syncapi.ErrConflict},
		{"ResourceNotFoundException", 404, syncapi.ErrNotFound},
		{"NotAuthorizedException", 403, syncapi.ErrNotAuthorized},
		{"LimitExceededException", 400, syncapi.ErrLimitExceeded},
		{"InvalidLambdaFunctionOutputException", 400, syncapi.ErrLambdaOutput},
		{"InvalidParameterException", 400, nil},
	}
	forms := []struct {
		name   string
		header func(code string) string
		body   func(code string) string
	}{
		{"header-only",
			func(code string) string { return code + coralNS },
			func(string) string { return `{"message":"boom"}` }},
		{"body-__type",
			func(string) string { return "" },
			func(code string) string { return `{"__type":"` + code + coralNS + `","message":"boom"}` }},
		{"body-__type-hash",
			func(string) string { return "" },
			func(code string) string {
				return `{"__type":"com.amazonaws.cognito.sync.model#` + code + `","Message":"boom"}`
			}},
		{"body-code",
			func(string) string { return "" },
			func(code string) string { return `{"code":"` + code + coralNS + `","Message":"boom"}` }},
	}
	for _, cc := range codes {
		for _, f := range forms {
			t.Run(cc.code+"/"+f.name, func(t *testing.T) {
				var attempts atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					attempts.Add(1)
					if h := f.header(cc.code); h != "" {
						w.Header().Set("x-amzn-ErrorType", h)
					}
					writeJSON(w, cc.status, f.body(cc.code))
				}))
				defer srv.Close()
				_, err := newClient(t, srv).DescribeDataset(context.Background(),
					syncapi.DatasetInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings"})
				var ae *client.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("err %v (%T) is not an *APIError", err, err)
				}
				want := client.APIError{Code: cc.code, Message: "boom", StatusCode: cc.status, RequestID: "6f1c0000-0000-4000-8000-000000000001"}
				if *ae != want {
					t.Errorf("APIError %+v, want %+v", *ae, want)
				}
				if cc.sentinel != nil && !errors.Is(err, cc.sentinel) {
					t.Errorf("errors.Is(%v, %v) = false", err, cc.sentinel)
				}
				if errors.Is(err, syncapi.ErrInternal) {
					t.Errorf("%s matches ErrInternal", cc.code)
				}
				var oe *smithy.OperationError
				if !errors.As(err, &oe) || oe.Operation() != "DescribeDataset" {
					t.Errorf("err %v is not an OperationError for DescribeDataset", err)
				}
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != cc.code || api.ErrorFault() != smithy.FaultClient {
					t.Errorf("smithy.APIError view wrong: %v", api)
				}
				if n := attempts.Load(); n != 1 {
					t.Errorf("%d attempts for %d %s, want 1 (no retry)", n, cc.status, cc.code)
				}
			})
		}
	}
}

// TestUpdateRecords_StaleSyncCount checks that a 409's message reaches the
// caller verbatim (the AWS format of spec C.5).
func TestUpdateRecords_StaleSyncCount(t *testing.T) {
	const msg = "Current SyncCount for: highScore is: 7 not: 5"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amzn-ErrorType", "ResourceConflictException"+coralNS)
		writeJSON(w, http.StatusConflict, `{"message":"`+msg+`"}`)
	}))
	defer srv.Close()
	_, err := newClient(t, srv).UpdateRecords(context.Background(), syncapi.UpdateRecordsInput{
		IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", SyncSessionToken: "t",
		RecordPatches: []syncapi.RecordPatch{{Op: syncapi.OpReplace, Key: "highScore", Value: aws.String("1"), SyncCount: 5}},
	})
	if !errors.Is(err, syncapi.ErrConflict) {
		t.Fatalf("err %v, want ErrConflict", err)
	}
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Message != msg || ae.StatusCode != 409 {
		t.Fatalf("APIError %+v, want message %q", ae, msg)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("Error() %q lacks the message", err)
	}
}

// TestErrors_NonJSONBody: a proxy's HTML error still yields an *APIError with
// the status (and a 5xx is retried up to MaxAttempts).
func TestErrors_NonJSONBody(t *testing.T) {
	for _, tc := range []struct {
		status       int
		body         string
		wantAttempts int32
		wantMessage  string
	}{
		{502, "<html><body>Bad Gateway</body></html>", 3, "<html><body>Bad Gateway</body></html>"},
		{403, "Forbidden by proxy", 1, "Forbidden by proxy"},
		{400, "", 1, "Bad Request"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := newClient(t, srv).GetCognitoEvents(context.Background(), syncapi.PoolInput{IdentityPoolID: pool})
			var ae *client.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v is not an *APIError", err)
			}
			if ae.StatusCode != tc.status || ae.Code != "UnknownError" || ae.Message != tc.wantMessage {
				t.Errorf("APIError %+v", *ae)
			}
			if n := attempts.Load(); n != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", n, tc.wantAttempts)
			}
			if tc.status >= 500 {
				var me *retry.MaxAttemptsError
				if !errors.As(err, &me) {
					t.Errorf("err %v is not a MaxAttemptsError", err)
				}
			}
		})
	}
}

// TestRetry_ThrottlingThenSuccess: throttling and 5xx are retried with the
// retryer's backoff; the request (body and signature) is re-sent intact.
func TestRetry_ThrottlingThenSuccess(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header string
		body   string
	}{
		{"TooManyRequests-header", 429, "TooManyRequestsException" + coralNS, `{"message":"Rate exceeded"}`},
		{"TooManyRequests-body", 429, "", `{"__type":"TooManyRequestsException","message":"Rate exceeded"}`},
		{"LambdaThrottled", 429, "LambdaThrottledException", `{"message":"throttled"}`},
		{"InternalError", 500, "InternalErrorException", `{"message":"An internal error occurred."}`},
		{"Unavailable-nonJSON", 503, "", `Service Unavailable`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := attempts.Add(1)
				body := readBody(t, r)
				if !jsonEqual(t, body, `{"SyncSessionToken":"t","RecordPatches":[{"Op":"remove","Key":"k","SyncCount":1}]}`) {
					t.Errorf("attempt %d body %s", n, body)
				}
				verifySigV4(t, r, body)
				if n < 3 {
					if tc.header != "" {
						w.Header().Set("x-amzn-ErrorType", tc.header)
					}
					writeJSON(w, tc.status, tc.body)
					return
				}
				writeJSON(w, 200, `{"Records":[]}`)
			}))
			defer srv.Close()
			out, err := newClient(t, srv).UpdateRecords(context.Background(), syncapi.UpdateRecordsInput{
				IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", SyncSessionToken: "t",
				RecordPatches: []syncapi.RecordPatch{{Op: syncapi.OpRemove, Key: "k", SyncCount: 1}},
			})
			if err != nil {
				t.Fatalf("UpdateRecords: %v", err)
			}
			if n := attempts.Load(); n != 3 {
				t.Errorf("%d attempts, want 3", n)
			}
			if out.Records == nil || len(out.Records) != 0 {
				t.Errorf("Records %#v, want empty non-nil", out.Records)
			}
		})
	}
}

// TestRetry_MaxAttempts: with the standard retryer capped at 4 attempts a
// persistent 429 is tried 4 times, then reported.
func TestRetry_MaxAttempts(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.Header().Set("x-amzn-ErrorType", "TooManyRequestsException")
		writeJSON(w, 429, `{"message":"slow down"}`)
	}))
	defer srv.Close()
	c := newClient(t, srv, func(o *client.Options) {
		o.Retryer = retry.AddWithMaxAttempts(fastRetryer(), 4)
	})
	_, err := c.ListDatasets(context.Background(), syncapi.ListDatasetsInput{IdentityPoolID: pool, IdentityID: identity})
	if !errors.Is(err, syncapi.ErrTooManyRequests) {
		t.Fatalf("err %v, want ErrTooManyRequests", err)
	}
	if n := attempts.Load(); n != 4 {
		t.Errorf("%d attempts, want 4", n)
	}
}

// TestRetry_NoRetryOn400: an InvalidParameterException is final.
func TestRetry_NoRetryOn400(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.Header().Set("x-amzn-ErrorType", "InvalidParameterException"+coralNS)
		writeJSON(w, 400, `{"message":"No such SyncCount: 9 exists for this Dataset"}`)
	}))
	defer srv.Close()
	_, err := newClient(t, srv).ListRecords(context.Background(), syncapi.ListRecordsInput{
		IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", LastSyncCount: aws.Int64(9)})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != "InvalidParameterException" || ae.StatusCode != 400 {
		t.Fatalf("err %v", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestRetry_ContextCancelsBackoff: a done context ends the retry loop.
func TestRetry_ContextCancelsBackoff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amzn-ErrorType", "TooManyRequestsException")
		writeJSON(w, 429, `{"message":"slow down"}`)
	}))
	defer srv.Close()
	c := newClient(t, srv, func(o *client.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Hour, nil })
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetCognitoEvents(ctx, syncapi.PoolInput{IdentityPoolID: pool})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, syncapi.ErrTooManyRequests) {
		t.Fatalf("err %v, want DeadlineExceeded wrapping the throttling error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestClient_EmptyPathLabel: an empty path member is refused before sending.
func TestClient_EmptyPathLabel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.RequestURI)
	}))
	defer srv.Close()
	_, err := newClient(t, srv).DescribeDataset(context.Background(), syncapi.DatasetInput{IdentityPoolID: pool, IdentityID: identity})
	var ve *syncapi.ValidationError
	if !errors.As(err, &ve) || ve.Field != "DatasetName" {
		t.Fatalf("err %v, want ValidationError for DatasetName", err)
	}
}

// TestClient_Unsigned: without credentials requests carry no signature.
func TestClient_Unsigned(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Amz-Date") != "" {
			t.Errorf("unsigned client sent Authorization %q", r.Header.Get("Authorization"))
		}
		writeJSON(w, 200, `{"IdentityPoolId":"`+pool+`"}`)
	}))
	defer srv.Close()
	for _, creds := range []aws.CredentialsProvider{nil, aws.AnonymousCredentials{}} {
		c := newClient(t, srv, func(o *client.Options) { o.Credentials = creds; o.Region = "" })
		if _, err := c.BulkPublish(context.Background(), syncapi.PoolInput{IdentityPoolID: pool}); err != nil {
			t.Errorf("credentials %T: %v", creds, err)
		}
	}
}

// TestClient_ConfigErrors: configuration errors surface on every call.
func TestClient_ConfigErrors(t *testing.T) {
	for name, o := range map[string]client.Options{
		"no region":    {Credentials: staticCreds, BaseEndpoint: aws.String("http://localhost:1")},
		"bad endpoint": {Region: region, BaseEndpoint: aws.String("localhost:8080")},
	} {
		_, err := client.New(o).BulkPublish(context.Background(), syncapi.PoolInput{IdentityPoolID: pool})
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
