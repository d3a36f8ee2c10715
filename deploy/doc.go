// Package deploy holds what an operator deploys: the container image
// (Dockerfile), the ECS task definition of the worker (ecs/), Prometheus
// scrape config and alert rules (prometheus/), the Grafana dashboard
// (grafana/) and the scripts that start the real test services (local/).
//
// It has no Go code of its own; deploy_test.go checks the files against the
// metric contract in internal/metricnames, so a dashboard panel or an
// alert can never query a metric the binaries do not export.
package deploy
