package trigger

import (
	"context"
	"errors"
	"fmt"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Handler is a SyncTrigger function written in Go. synctrigger.Rules.Handle
// has this shape.
type Handler func(ctx context.Context, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error)

// InProcess runs SyncTrigger functions as Go handlers inside the server
// process (the embedded mode): each function ARN a pool may name maps to a
// Handler. The map must not change after the first Invoke; InProcess is then
// safe for concurrent use.
type InProcess map[string]Handler

var _ syncapi.TriggerInvoker = InProcess(nil)

// Invoke runs the ARN's handler in a goroutine and waits for it or ctx.
// Errors: an unknown ARN, a handler error or panic → syncapi.ErrLambdaOutput;
// ctx's deadline → ErrLambdaTimeout (the handler keeps running until it
// notices ctx). A handler may return an error of kind ErrLambdaThrottled or
// ErrLambdaTimeout, which is passed through.
func (p InProcess) Invoke(ctx context.Context, functionArn string, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
	h, ok := p[functionArn]
	if !ok {
		return syncapi.TriggerEvent{}, syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function %s is not registered in this server.", functionArn)
	}
	type result struct {
		ev  syncapi.TriggerEvent
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: syncapi.Errorf(syncapi.ErrLambdaOutput, "SyncTrigger function %s panicked: %v", functionArn, r)}
			}
		}()
		out, err := h(ctx, ev)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			return r.ev, nil
		}
		var de *syncapi.Error
		if errors.As(r.err, &de) && (errors.Is(r.err, syncapi.ErrLambdaThrottled) || errors.Is(r.err, syncapi.ErrLambdaTimeout) || errors.Is(r.err, syncapi.ErrLambdaOutput)) {
			return syncapi.TriggerEvent{}, r.err
		}
		return syncapi.TriggerEvent{}, syncapi.Errorf(syncapi.ErrLambdaOutput, "SyncTrigger function failed: %v", r.err)
	case <-ctx.Done():
		return syncapi.TriggerEvent{}, syncapi.Errorf(syncapi.ErrLambdaTimeout,
			"SyncTrigger function %s did not answer in time: %v", functionArn, fmt.Sprint(ctx.Err()))
	}
}
