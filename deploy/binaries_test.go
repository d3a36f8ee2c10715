package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
)

// The tests in this file and startup_test.go run the binaries as the image
// does (no container runtime is available here): built once, stamped with
// testVersion as the Dockerfile and the Makefile stamp a release.
const testVersion = "v0.0.0-deploytest"

type builtBinaries struct{ syncd, worker, lambda string }

var (
	buildOnce sync.Once
	built     builtBinaries
	buildErr  error
)

// binaries builds syncd, worker and lambda (without -race: these are the
// release binaries) into a directory every user may read, so that they
// also run as an unprivileged user.
func binaries(t *testing.T) builtBinaries {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cognitosync-deploy-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", buildinfo.LDFlag(testVersion),
			"-o", dir+"/", "../cmd/syncd", "../cmd/worker", "../cmd/lambda")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built = builtBinaries{filepath.Join(dir, "syncd"), filepath.Join(dir, "worker"), filepath.Join(dir, "lambda")}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// TestVersion_StampReachesEveryBinary: the -X stamp the Dockerfile and the
// Makefile's build target pass is what --version prints, for each binary.
func TestVersion_StampReachesEveryBinary(t *testing.T) {
	b := binaries(t)
	for _, bin := range []string{b.syncd, b.worker, b.lambda} {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != testVersion {
			t.Errorf("%s --version = %q, %v; want %q", filepath.Base(bin), out, err, testVersion)
		}
	}
	// The build files pass exactly that flag.
	for _, f := range []string{"Dockerfile", "../Makefile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), buildinfo.LDFlag("")) {
			t.Errorf("%s does not stamp the version with %s", f, buildinfo.LDFlag("…"))
		}
	}
}

// dockerfileEnv returns the ENV of the Dockerfile's last stage.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			clear(env)
		case "ENV":
			for _, kv := range fields[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %s: use the KEY=value form", kv)
				}
				env[k] = v
			}
		}
	}
	return env
}

// composeFile is what the tests read of deploy/compose.yaml.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       map[string]string `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	ReadOnly    bool              `yaml:"read_only"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// binaryOf returns which of our binaries a compose service built from the
// Dockerfile runs ("" for a service of another image).
func binaryOf(t *testing.T, s composeService) string {
	t.Helper()
	if s.Build["dockerfile"] != "deploy/Dockerfile" {
		return ""
	}
	switch {
	case len(s.Entrypoint) == 0 || slices.Equal(s.Entrypoint, []string{"/worker"}):
		return "worker"
	case slices.Equal(s.Entrypoint, []string{"/syncd"}):
		return "syncd"
	}
	t.Fatalf("compose service runs %v, neither /syncd nor /worker", s.Entrypoint)
	return ""
}

// TestCompose_EveryVariableIsRead: every variable and flag the compose file
// and the Dockerfile set for syncd and the worker is one the binary reads
// (its --help names it), so a typo cannot silently do nothing. There is no
// Docker engine here; where `docker compose version` works the file is also
// checked with `docker compose config`.
func TestCompose_EveryVariableIsRead(t *testing.T) {
	b := binaries(t)
	help := map[string]string{}
	for name, bin := range map[string]string{"syncd": b.syncd, "worker": b.worker} {
		out, err := exec.Command(bin, "--help").Output()
		if err != nil {
			t.Fatalf("%s --help: %v", name, err)
		}
		help[name] = string(out)
	}
	read := func(bin, name string) bool {
		return strings.HasPrefix(name, "AWS_") || strings.Contains(help[bin], "["+name) || strings.Contains(help[bin], ", "+name+"]")
	}
	for name := range dockerfileEnv(t) {
		if !read("syncd", name) && !read("worker", name) {
			t.Errorf("Dockerfile sets %s, which neither binary reads", name)
		}
	}
	c := readCompose(t)
	ours := map[string]bool{}
	for svc, s := range c.Services {
		bin := binaryOf(t, s)
		if bin == "" {
			continue
		}
		ours[bin] = true
		for name := range s.Environment {
			if !read(bin, name) {
				t.Errorf("compose.yaml: service %s sets %s, which %s does not read", svc, name, bin)
			}
		}
		for _, a := range s.Command {
			if f, ok := strings.CutPrefix(a, "--"); ok && !strings.Contains(help[bin], "  -"+strings.SplitN(f, "=", 2)[0]) {
				t.Errorf("compose.yaml: service %s passes %s, which %s does not have", svc, a, bin)
			}
		}
	}
	if !ours["syncd"] || !ours["worker"] {
		t.Errorf("compose.yaml runs %v of our binaries, want syncd and the worker", ours)
	}
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Logf("docker compose is not available here (%v): compose.yaml checked by this test only", err)
		return
	}
	if out, err := exec.Command("docker", "compose", "-f", "compose.yaml", "config", "--quiet").CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, bytes.TrimSpace(out))
	}
}
