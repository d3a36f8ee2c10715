package trigger

import (
	"context"
	"errors"
	"github.com/cognitosync/cognitosync/internal/metricnames"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Invocation outcomes of cognitosync_trigger_invocations_total.
const (
	OutcomeOK          = "ok"
	OutcomeRejected    = "rejected"    // the function ran and raised an error, or answered invalid output
	OutcomeUnreachable = "unreachable" // no answer from the Lambda endpoint: the function never ran
	OutcomeThrottled   = "throttled"
	OutcomeTimeout     = "timeout"
	OutcomeError       = "error" // the Invoke API failed (no such function, no permission, Lambda's own failure)
)

// Instrumented counts each invocation of the wrapped invoker in
// cognitosync_trigger_invocations_total{pool,outcome}.
type Instrumented struct {
	next  syncapi.TriggerInvoker
	count *prometheus.CounterVec
}

var _ syncapi.TriggerInvoker = (*Instrumented)(nil)

// Instrument wraps next; reg may be nil (no metrics, next is returned).
func Instrument(next syncapi.TriggerInvoker, reg prometheus.Registerer) (syncapi.TriggerInvoker, error) {
	if reg == nil || next == nil {
		return next, nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricnames.MetricTriggerInvocations,
		Help: "SyncTrigger invocations by outcome.",
	}, []string{"pool", "outcome"})
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return &Instrumented{next: next, count: c}, nil
}

// Invoke calls the wrapped invoker and counts the outcome.
func (i *Instrumented) Invoke(ctx context.Context, arn string, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
	out, err := i.next.Invoke(ctx, arn, ev)
	i.count.WithLabelValues(ev.IdentityPoolID, outcome(err)).Inc()
	return out, err
}

func outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrUnreachable):
		return OutcomeUnreachable
	case errors.Is(err, ErrInvokeFailed):
		return OutcomeError
	case errors.Is(err, syncapi.ErrLambdaOutput):
		return OutcomeRejected
	case errors.Is(err, syncapi.ErrLambdaThrottled):
		return OutcomeThrottled
	case errors.Is(err, syncapi.ErrLambdaTimeout):
		return OutcomeTimeout
	}
	return OutcomeError
}
