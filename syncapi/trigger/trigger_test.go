package trigger

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/syncapi"
)

type fakeLambda func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error)

func (f fakeLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	return f(ctx, in)
}

const arn = "arn:aws:lambda:us-east-1:123456789012:function:f"

func TestLambdaInvoker(t *testing.T) {
	ev := syncapi.TriggerEvent{Version: 2, EventType: "SyncTrigger", DatasetName: "d"}
	respErr := func(status int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New("boom")}
	}
	cases := []struct {
		name string
		fn   fakeLambda
		kind error
		msg  string
	}{
		{"ok", func(_ context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return &lambda.InvokeOutput{Payload: in.Payload}, nil
		}, nil, ""},
		{"function error header", func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return &lambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(`{"errorMessage":"no admin keys","errorType":"Rejection"}`)}, nil
		}, syncapi.ErrLambdaOutput, "no admin keys"},
		{"error payload without header (emulator)", func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return &lambda.InvokeOutput{Payload: []byte(`{"errorMessage":"no admin keys","errorType":"Rejection"}`)}, nil
		}, syncapi.ErrLambdaOutput, "no admin keys"},
		{"not an event", func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return &lambda.InvokeOutput{Payload: []byte(`[1,2]`)}, nil
		}, syncapi.ErrLambdaOutput, "not a Cognito event"},
		{"throttled", func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return nil, &types.TooManyRequestsException{Message: aws.String("rate")}
		}, syncapi.ErrLambdaThrottled, "throttled"},
		{"deadline", func(ctx context.Context, _ *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, syncapi.ErrLambdaTimeout, "in time"},
		{"crash (502)", func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return nil, respErr(502)
		}, syncapi.ErrLambdaOutput, "may have crashed"},
		{"not invocable", func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return nil, &types.ResourceNotFoundException{Message: aws.String("no such function")}
		}, syncapi.ErrLambdaOutput, "could not be invoked"},
		{"unreachable", func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New(`Post "http://10.1.2.3:9001/2015-03-31/functions/f/invocations": connect: connection refused`)}
		}, syncapi.ErrLambdaOutput, "did not answer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, err := NewLambdaInvoker(LambdaConfig{Client: c.fn})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			out, err := inv.Invoke(ctx, arn, ev)
			if c.kind == nil {
				if err != nil || out.DatasetName != "d" {
					t.Fatalf("got %+v, %v", out, err)
				}
				return
			}
			var de *syncapi.Error
			if !errors.Is(err, c.kind) || !errors.As(err, &de) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("want %v containing %q, got %v", c.kind, c.msg, err)
			}
			// What the client sees names no internal address.
			if strings.Contains(de.Message, "http") || strings.Contains(de.Message, "10.1.2.3") || strings.Contains(de.Message, "boom") {
				t.Errorf("client message leaks the endpoint or transport error: %q", de.Message)
			}
		})
	}
}

func TestLambdaInvoker_FunctionName(t *testing.T) {
	for _, c := range []struct{ name, want string }{{"", arn}, {"function", "function"}} {
		var got string
		inv, _ := NewLambdaInvoker(LambdaConfig{FunctionName: c.name, Client: fakeLambda(func(_ context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			got = *in.FunctionName
			return &lambda.InvokeOutput{Payload: in.Payload}, nil
		})})
		if _, err := inv.Invoke(context.Background(), arn, syncapi.TriggerEvent{}); err != nil || got != c.want {
			t.Fatalf("FunctionName %q: sent %q, %v", c.name, got, err)
		}
	}
	if _, err := NewLambdaInvoker(LambdaConfig{}); err == nil {
		t.Fatal("no Client accepted")
	}
}

func TestInProcess(t *testing.T) {
	// The slow function hangs until the test ends, whatever its context
	// says: Invoke must give up at the deadline without it.
	hang := make(chan struct{})
	defer close(hang)
	p := InProcess{
		"ok": func(_ context.Context, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) { return ev, nil },
		"fail": func(context.Context, syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
			return syncapi.TriggerEvent{}, errors.New("nope")
		},
		"panic": func(context.Context, syncapi.TriggerEvent) (syncapi.TriggerEvent, error) { panic("boom") },
		"slow": func(ctx context.Context, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
			<-hang
			return ev, nil
		},
		"throttle": func(context.Context, syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
			return syncapi.TriggerEvent{}, syncapi.Errorf(syncapi.ErrLambdaThrottled, "busy")
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if out, err := p.Invoke(ctx, "ok", syncapi.TriggerEvent{DatasetName: "d"}); err != nil || out.DatasetName != "d" {
		t.Fatalf("ok: %+v %v", out, err)
	}
	for name, kind := range map[string]error{
		"fail": syncapi.ErrLambdaOutput, "panic": syncapi.ErrLambdaOutput, "missing": syncapi.ErrLambdaOutput,
		"slow": syncapi.ErrLambdaTimeout, "throttle": syncapi.ErrLambdaThrottled,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := p.Invoke(ctx, name, syncapi.TriggerEvent{})
		cancel()
		if !errors.Is(err, kind) {
			t.Errorf("%s: want %v, got %v", name, kind, err)
		}
	}
}

func TestInstrument_CountsOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	errs := map[string]error{
		"arn:ok":        nil,
		"arn:rejected":  syncapi.Errorf(syncapi.ErrLambdaOutput, "bad"),
		"arn:throttled": syncapi.Errorf(syncapi.ErrLambdaThrottled, "slow down"),
		"arn:timeout":   syncapi.Errorf(syncapi.ErrLambdaTimeout, "late"),
	}
	errs["arn:unreachable"] = mapInvokeError(context.Background(), "arn:unreachable", errors.New("dial tcp: connection refused"))
	errs["arn:error"] = mapInvokeError(context.Background(), "arn:error", &types.ResourceNotFoundException{Message: aws.String("no such function")})
	inner := InProcess{}
	for arn, err := range errs {
		inner[arn] = func(_ context.Context, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) { return ev, err }
	}
	inv, err := Instrument(inner, reg)
	if err != nil {
		t.Fatal(err)
	}
	for arn := range errs {
		inv.Invoke(context.Background(), arn, syncapi.TriggerEvent{IdentityPoolID: "us-east-1:p"})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "cognitosync_trigger_invocations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["pool"] == "us-east-1:p" {
				got[labels["outcome"]] = m.GetCounter().GetValue()
			}
		}
	}
	for _, o := range []string{OutcomeOK, OutcomeRejected, OutcomeUnreachable, OutcomeThrottled, OutcomeTimeout, OutcomeError} {
		if got[o] != 1 {
			t.Errorf("outcome %s counted %v times, want 1 (all: %v)", o, got[o], got)
		}
	}
}
