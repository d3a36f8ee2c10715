// Package promreg registers Prometheus collectors that several components
// of one process may register on a shared registry (two handlers, two
// Guards, a limiter per operation): the second registration gets the
// collector already there instead of an error.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c, or returns the identical collector (same name,
// help and labels) already registered; any other error is returned with c.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
