package httpapi_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(t, func(c *httpapi.Config) { c.Registerer = reg })
	s.sync.DescribeDatasetFn = func(context.Context, syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
		return syncapi.DatasetOutput{}, syncapi.Errorf(syncapi.ErrNotFound, "gone")
	}
	get := func(path string) { doRaw(t, "GET", s.URL+path, "", nil) }
	get("/identitypools/p/identities/i/datasets/d/records")
	get("/identitypools/p/identities/i/datasets/d/records")
	get("/identitypools/p/identities/i/datasets/d")
	get("/nowhere")
	doRaw(t, "POST", s.URL+"/", `{"IdentityPoolId":"p"}`, map[string]string{"X-Amz-Target": "AWSCognitoIdentityService.GetId"})

	// A second handler on the same registry shares the collectors.
	if _, err := httpapi.NewHandler(httpapi.Config{Sync: s.sync, Identity: s.identity, Auth: s.auth, Registerer: reg}); err != nil {
		t.Fatalf("second NewHandler on one registry: %v", err)
	}

	counts, durations := gather(t, reg)
	want := map[[2]string]float64{
		{"ListRecords", "OK"}:                            2,
		{"DescribeDataset", "ResourceNotFoundException"}: 1,
		{"unknown", "UnknownOperationException"}:         1,
		{"GetId", "OK"}:                                  1,
	}
	if len(counts) != len(want) {
		t.Errorf("counters = %v, want %v", counts, want)
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("cognitosync_requests_total%v = %v, want %v", k, counts[k], v)
		}
	}
	for op, n := range map[string]uint64{"ListRecords": 2, "DescribeDataset": 1, "unknown": 1, "GetId": 1} {
		if durations[op] != n {
			t.Errorf("duration histogram count for %s = %d, want %d", op, durations[op], n)
		}
	}
}

func gather(t *testing.T, g prometheus.Gatherer) (counts map[[2]string]float64, durations map[string]uint64) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts, durations = map[[2]string]float64{}, map[string]uint64{}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "cognitosync_requests_total":
				counts[[2]string{label(m, "operation"), label(m, "code")}] = m.GetCounter().GetValue()
			case "cognitosync_request_duration_seconds":
				durations[label(m, "operation")] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return counts, durations
}
