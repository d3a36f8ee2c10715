package synctest

// The AWS Lambda Runtime Interface Emulator running the real cmd/lambda, for
// tests of the SyncTrigger through the Lambda Invoke API.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The emulator, pinned (ARCHITECTURE.md "Lambda").
const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// LambdaRIE is the emulator binary and the cmd/lambda bootstrap it runs.
// Err is set when they could not be built; Start then skips the test, or
// fails it under CI=true.
type LambdaRIE struct {
	RIE, Bootstrap string
	Err            error
}

// BuildLambdaRIE builds cmd/lambda into dir (as deploy/lambda does:
// lambda.norpc, no cgo; tags adds build tags, e.g. the test-only
// synctriggerfault) and installs the emulator into the user cache, once per
// version; SYNC_TEST_LAMBDA_RIE may name an emulator binary instead. Call it
// once per test binary and tag set (TestMain, or a sync.Once).
func BuildLambdaRIE(dir string, tags ...string) LambdaRIE {
	r := LambdaRIE{Bootstrap: filepath.Join(dir, "bootstrap")}
	tagList := strings.Join(append([]string{"lambda.norpc"}, tags...), ",")
	build := exec.Command("go", "build", "-tags", tagList, "-o", r.Bootstrap, "github.com/cognitosync/cognitosync/cmd/lambda")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		r.Err = fmt.Errorf("build cmd/lambda -tags %s: %v\n%s", tagList, err, out)
		return r
	}
	if p := os.Getenv("SYNC_TEST_LAMBDA_RIE"); p != "" {
		r.RIE = p
		return r
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	gobin := filepath.Join(cache, "cognitosync", "aws-lambda-rie@"+rieVersion)
	r.RIE = filepath.Join(gobin, "aws-lambda-rie")
	if _, err := os.Stat(r.RIE); err == nil {
		return r
	}
	inst := exec.Command("go", "install", rieModule+"@"+rieVersion)
	inst.Dir = os.TempDir() // outside this module
	inst.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := inst.CombinedOutput(); err != nil {
		r.Err = fmt.Errorf("go install %s@%s: %v\n%s", rieModule, rieVersion, err, out)
	}
	return r
}

// Require skips the test when the emulator is unavailable, or fails it
// under CI=true.
func (r LambdaRIE) Require(tb testing.TB) {
	tb.Helper()
	if r.Err == nil {
		return
	}
	Unavailable(tb, "Lambda Runtime Interface Emulator unavailable: %v", r.Err)
}

// Start runs the emulator with cmd/lambda on addr (host:port), env added to
// the test's, until the test ends, and waits until it listens. Its Invoke
// API serves only the function name "function".
func (r LambdaRIE) Start(tb testing.TB, addr string, env map[string]string) {
	tb.Helper()
	r.Require(tb)
	cmd := exec.Command(r.RIE, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", FreeAddr(tb), r.Bootstrap)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_EC2_METADATA_DISABLED=true")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := newLogBuffer(nil)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start emulator: %v", err)
	}
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and its bootstrap
		cmd.Wait()
		if tb.Failed() {
			tb.Logf("emulator output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("emulator did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for programs that take an address rather than a listener.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
