package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/cognitosync/cognitosync/pipeline"
)

// expr is one PromQL expression and where it was found.
type expr struct{ where, q string }

func alertExprs(t *testing.T) (map[string]expr, []expr) {
	t.Helper()
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Record, Expr string
				For                 string
				Labels, Annotations map[string]string
			}
		}
	}
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	byName := map[string]expr{}
	var all []expr
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("alerts.yml group %s: a rule without alert name or expr", g.Name)
				continue
			}
			if _, dup := byName[r.Alert]; dup {
				t.Errorf("alerts.yml: alert %s defined twice", r.Alert)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alerts.yml: %s needs labels.severity and annotations.summary", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alerts.yml: %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			e := expr{"alerts.yml " + r.Alert, r.Expr}
			byName[r.Alert] = e
			all = append(all, e)
		}
	}
	return byName, all
}

func dashboardExprs(t *testing.T) []expr {
	t.Helper()
	b, err := os.ReadFile("grafana/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var out []expr
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			where := path
			if title, ok := v["title"].(string); ok {
				where = path + "/" + title
			}
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					out = append(out, expr{"dashboard.json " + where, s})
					continue
				}
				walk(where, x)
			}
		case []any:
			for _, x := range v {
				walk(path, x)
			}
		}
	}
	walk("", d)
	return out
}

var (
	metricRef = regexp.MustCompile(`\bcognitosync_[a-zA-Z0-9_:]*`)
	matcher   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	labelVals = regexp.MustCompile(`label_values\(\s*(cognitosync_[a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// targetLabels are added by Prometheus (job, instance) and by the scrape
// config in prometheus.yml (component); any series may carry them.
var targetLabels = []string{"job", "instance", "component"}

// checkExpr fails the test for every problem lint finds in e and returns
// the metrics e queries.
func checkExpr(t *testing.T, e expr) []string {
	t.Helper()
	names, problems := lint(e)
	for _, p := range problems {
		t.Error(p)
	}
	return names
}

// lint reports a cognitosync_ metric outside the contract and a label none
// of the expression's metrics has.
func lint(e expr) (names, problems []string) {
	t := reporter{&problems}
	allowed := append([]string(nil), targetLabels...)
	for _, loc := range metricRef.FindAllStringIndex(e.q, -1) {
		name := e.q[loc[0]:loc[1]]
		m, ok := metricnames.LookupMetric(name)
		if !ok {
			t.Errorf("%s: %s is not in metricnames.Metrics (internal/metricnames), the metrics syncd and the worker export", e.where, name)
			continue
		}
		names = append(names, name)
		allowed = append(allowed, m.Labels...)
		rest := e.q[loc[1]:]
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			for _, mm := range matcher.FindAllStringSubmatch(rest[:end+1], -1) {
				if !slices.Contains(m.Labels, mm[1]) && !slices.Contains(targetLabels, mm[1]) {
					t.Errorf("%s: %s has no label %q (it has %v)", e.where, name, mm[1], m.Labels)
				}
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(e.q, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(allowed, l) {
				t.Errorf("%s: groups by %q, which none of %v has", e.where, l, names)
			}
		}
	}
	for _, lv := range labelVals.FindAllStringSubmatch(e.q, -1) {
		if m, ok := metricnames.LookupMetric(lv[1]); ok && !slices.Contains(m.Labels, lv[2]) {
			t.Errorf("%s: label_values of %s by %q, which it does not have", e.where, lv[1], lv[2])
		}
	}
	return names, problems
}

type reporter struct{ problems *[]string }

func (r reporter) Errorf(format string, args ...any) {
	*r.problems = append(*r.problems, fmt.Sprintf(format, args...))
}

func TestAlertRules_QueryOnlyExportedMetrics(t *testing.T) {
	_, all := alertExprs(t)
	for _, e := range all {
		if len(checkExpr(t, e)) == 0 {
			t.Errorf("%s: queries no cognitosync_ metric", e.where)
		}
	}
}

// TestAlertRules_CoverIssue4 pins the alerts issue #4 asks for: lag, poison
// rate, stalled sink, failed bulk publish.
func TestAlertRules_CoverIssue4(t *testing.T) {
	byName, _ := alertExprs(t)
	for alert, metric := range map[string]string{
		"CognitosyncShardLagHigh":      metricnames.MetricShardMillisBehindLatest,
		"CognitosyncPoisonRateHigh":    metricnames.MetricWorkerMessages,
		"CognitosyncSinkStalled":       metricnames.MetricSinkLastSuccess,
		"CognitosyncBulkPublishFailed": metricnames.MetricBulkPublishes,
	} {
		e, ok := byName[alert]
		if !ok {
			t.Errorf("alerts.yml has no %s", alert)
			continue
		}
		if !strings.Contains(e.q, metric) {
			t.Errorf("%s does not query %s", alert, metric)
		}
	}
}

// absenceSafe is how an alert keeps firing when its series disappear.
var absenceSafe = regexp.MustCompile(`\babsent\(\s*cognitosync_|or\s+on\s*\(\s*\)\s+vector\(\s*0\s*\)`)

// firesOnLow matches a comparison that fires on a small value (== 0, < n,
// <= n): such an alert must also fire when the series is missing, or a
// dead exporter silences it.
var firesOnLow = regexp.MustCompile(`(==\s*0(\.0*)?|<=?\s*[0-9.]+)\s*($|\)|\s(or|and|unless)\b)`)

// TestAlertRules_FireOnAbsence: every alert that fires on a low value also
// fires when its metric is absent (absent(), or "or on() vector(0)"), and
// the alerts that watch for a missing component exist.
func TestAlertRules_FireOnAbsence(t *testing.T) {
	byName, all := alertExprs(t)
	for _, e := range all {
		if firesOnLow.MatchString(e.q) && !absenceSafe.MatchString(e.q) {
			t.Errorf("%s fires on a low value but not when the series is absent: add absent(…) or \"or on() vector(0)\"", e.where)
		}
	}
	for alert, metric := range map[string]string{
		"CognitosyncNoLeasesHeld": metricnames.MetricLeasesHeld,
		"CognitosyncWorkerDown":   metricnames.MetricWorkerMessages,
		"CognitosyncSyncdDown":    metricnames.MetricHTTPConnections,
	} {
		e, ok := byName[alert]
		if !ok {
			t.Errorf("alerts.yml has no %s", alert)
			continue
		}
		if !strings.Contains(e.q, "absent("+metric+")") {
			t.Errorf("%s = %q does not fire when %s is absent", alert, e.q, metric)
		}
	}
	// The checker rejects what it is there to reject.
	for _, q := range []string{`sum(cognitosync_leases_held) == 0`, `max(cognitosync_leases_held) < 1 and on() up == 1`} {
		if firesOnLow.MatchString(q) && absenceSafe.MatchString(q) || !firesOnLow.MatchString(q) {
			t.Errorf("the absence check accepts %s", q)
		}
	}
}

func TestDashboard_QueriesOnlyExportedMetrics(t *testing.T) {
	used := map[string]bool{}
	for _, e := range dashboardExprs(t) {
		for _, n := range checkExpr(t, e) {
			m, _ := metricnames.LookupMetric(n)
			used[m.Name] = true
		}
	}
	// Every metric of the contract has a panel: an exported metric nobody
	// can see is as wrong as a panel nobody feeds.
	for _, m := range metricnames.Metrics {
		if !used[m.Name] {
			t.Errorf("dashboard.json shows no panel of %s", m.Name)
		}
	}
}

// TestCheckExpr_CatchesUnknownNames keeps the checker honest: it must
// reject what it is there to reject.
func TestCheckExpr_CatchesUnknownNames(t *testing.T) {
	for _, q := range []string{
		`rate(cognitosync_no_such_metric_total[5m])`,
		`cognitosync_sink_writes_total{shard="x"}`,
		`sum by (shard) (cognitosync_sink_writes_total)`,
		`cognitosync_leases_held_bucket`,
		`label_values(cognitosync_sink_writes_total, route)`,
	} {
		if _, problems := lint(expr{"probe", q}); len(problems) == 0 {
			t.Errorf("lint accepted %s", q)
		}
	}
}

func TestMetricContract(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range metricnames.Metrics {
		if !strings.HasPrefix(m.Name, "cognitosync_") || seen[m.Name] {
			t.Errorf("%s: must start with cognitosync_ and be listed once", m.Name)
		}
		seen[m.Name] = true
		if (m.Type == metricnames.Counter) != strings.HasSuffix(m.Name, "_total") {
			t.Errorf("%s: counters, and only counters, end in _total", m.Name)
		}
		switch m.Exporter {
		case metricnames.ExporterSyncd, metricnames.ExporterWorker, metricnames.ExporterWorkerKinesis, metricnames.ExporterImport:
		default:
			t.Errorf("%s: Exporter %q", m.Name, m.Exporter)
		}
	}
	// What pipeline.SinkMetrics registers matches the contract.
	reg := prometheus.NewRegistry()
	sm, err := pipeline.NewSinkMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	sm.Observe("probe", time.Now(), 1, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) == 0 {
		t.Fatal("SinkMetrics registered nothing")
	}
	for _, mf := range mfs {
		m, ok := metricnames.LookupMetric(mf.GetName())
		if !ok {
			t.Errorf("SinkMetrics exports %s, which the contract does not list", mf.GetName())
			continue
		}
		if got := strings.ToLower(mf.GetType().String()); got != string(m.Type) {
			t.Errorf("%s: type %s, contract says %s", m.Name, got, m.Type)
		}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			if !slices.Contains(m.Labels, lp.GetName()) {
				t.Errorf("%s: label %s not in the contract %v", m.Name, lp.GetName(), m.Labels)
			}
		}
	}
}

func TestECSTaskDefinition(t *testing.T) {
	b, err := os.ReadFile("ecs/worker-task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	var td struct {
		Family               string
		ContainerDefinitions []struct {
			Name, Image, User      string
			Essential              bool
			ReadonlyRootFilesystem bool
			MountPoints            []struct{ ContainerPath string }
			HealthCheck            struct {
				Command []string
			}
			Environment      []struct{ Name, Value string }
			Secrets          []struct{ Name, ValueFrom string }
			LogConfiguration struct {
				LogDriver string
				Options   map[string]string
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&td); err != nil {
		t.Fatalf("task definition: %v", err)
	}
	if td.Family == "" || len(td.ContainerDefinitions) != 1 {
		t.Fatalf("want a family and one container, got %+v", td)
	}
	c := td.ContainerDefinitions[0]
	if !slices.Equal(c.HealthCheck.Command, []string{"CMD", "/worker", "healthcheck"}) {
		t.Errorf("healthCheck.command = %v: the image has no shell or curl, the worker checks itself", c.HealthCheck.Command)
	}
	if c.LogConfiguration.LogDriver != "awslogs" || c.LogConfiguration.Options["awslogs-group"] == "" {
		t.Errorf("logConfiguration = %+v, want awslogs with a group", c.LogConfiguration)
	}
	if c.User == "" || strings.HasPrefix(c.User, "0") || strings.HasPrefix(c.User, "root") {
		t.Errorf("user = %q, want a non-root uid", c.User)
	}
	if len(c.Environment) == 0 || !c.Essential {
		t.Errorf("want environment variables and an essential container")
	}
	// A read-only root file system with no volume: the worker must need no
	// disk, i.e. the remote mode with a database, no jsonl sink and
	// poisoned messages on stderr (TestStartup_UnprivilegedReadOnlyWorkdir
	// proves that such a worker starts).
	env := map[string]string{}
	for _, e := range c.Environment {
		env[e.Name] = e.Value
	}
	for _, s := range c.Secrets {
		env[s.Name] = "(secret)"
	}
	if c.ReadonlyRootFilesystem && len(c.MountPoints) == 0 {
		if env["COGNITOSYNC_STREAM_NAME"] == "" || env["COGNITOSYNC_DATABASE_URL"] == "" ||
			strings.Contains(env["COGNITOSYNC_SINKS"], "jsonl") || env["COGNITOSYNC_SINKS"] == "" ||
			(env["COGNITOSYNC_POISON_FILE"] != "" && env["COGNITOSYNC_POISON_FILE"] != "stderr") {
			t.Errorf("a read-only task without volumes needs the remote mode with COGNITOSYNC_DATABASE_URL, no jsonl sink and poison on stderr; env %v", env)
		}
	}
	// Every variable is one the worker reads.
	out, err := exec.Command(binaries(t).worker, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for name := range env {
		if !strings.HasPrefix(name, "AWS_") && !strings.Contains(string(out), "["+name) && !strings.Contains(string(out), ", "+name+"]") {
			t.Errorf("the task sets %s, which the worker does not read", name)
		}
	}
}

func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms []string
	var user string // the last USER of the last stage
	var text strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		text.WriteString(line + "\n")
		fields := strings.Fields(line)
		if len(fields) < 2 || strings.HasPrefix(line, "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			froms = append(froms, fields[1])
			user = ""
		case "USER":
			user = fields[1]
		}
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[0], "golang:1.26") {
		t.Errorf("FROM lines %v: want a golang:1.26 builder and a runtime stage", froms)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER = %q, want a non-root user", user)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/worker", "./cmd/syncd"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	// Every base image is pinned by digest, so a rebuild takes the same one.
	for _, f := range froms {
		if !regexp.MustCompile(`^[^@]+:[^@]+@sha256:[0-9a-f]{64}$`).MatchString(f) {
			t.Errorf("FROM %s: pin the base image by tag and digest (image:tag@sha256:…)", f)
		}
	}
	// The container listens on every interface (bare metal: loopback).
	env := dockerfileEnv(t)
	for _, k := range []string{"SYNCD_LISTEN", "COGNITOSYNC_LISTEN", "COGNITOSYNC_METRICS_LISTEN"} {
		if !strings.HasPrefix(env[k], ":") {
			t.Errorf("Dockerfile ENV %s = %q, want all interfaces (:port)", k, env[k])
		}
	}

	// The build context leaves out local state (data/embedded.json holds a
	// developer secret) and node_modules.
	ign, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"data/", "node_modules/", ".git"} {
		if !strings.Contains(string(ign), want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}

func TestPrometheusConfig(t *testing.T) {
	b, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, s := range cfg.ScrapeConfigs {
		jobs = append(jobs, s.JobName)
	}
	if !slices.Contains(jobs, "cognitosync-syncd") || !slices.Contains(jobs, "cognitosync-worker") {
		t.Errorf("scrape jobs = %v, want syncd and worker", jobs)
	}
	if !slices.Contains(cfg.RuleFiles, "alerts.yml") {
		t.Errorf("rule_files = %v, want alerts.yml", cfg.RuleFiles)
	}
}

// TestAlertRules_PushQueueGrowing pins the push sync alert: notifications
// that wait and keep piling up.
func TestAlertRules_PushQueueGrowing(t *testing.T) {
	byName, _ := alertExprs(t)
	e, ok := byName["CognitosyncPushQueueGrowing"]
	if !ok {
		t.Fatal("alerts.yml has no CognitosyncPushQueueGrowing")
	}
	for _, m := range []string{metricnames.MetricPushQueueOldestAge, metricnames.MetricPushQueueDepth} {
		if !strings.Contains(e.q, m) {
			t.Errorf("CognitosyncPushQueueGrowing does not query %s", m)
		}
	}
}
