package synctest

// Helpers for black-box tests that run the real binaries (syncd, worker) as
// separate OS processes: build once, start with flags, wait for a start-up
// log line, SIGKILL, read the peak RSS.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build runs `go build [-race] -o dir/<base of pkg> pkg` and returns the
// binary's path. go test puts $GOROOT/bin first on PATH, so this is the go
// tool that built the test binary.
func Build(dir, pkg string, race bool) (string, error) {
	bin := dir + "/" + pkg[strings.LastIndexByte(pkg, '/')+1:]
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// ChildEnv is the test's environment without variables starting with one of
// drop (e.g. "SYNCD_", "AWS_"), so that a developer's shell cannot change
// what the flags under test say, plus extra.
func ChildEnv(drop []string, extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return slices.ContainsFunc(drop, func(p string) bool { return strings.HasPrefix(kv, p) })
	})
	return append(env, extra...)
}

// ProcConfig configures Launch.
type ProcConfig struct {
	Bin  string
	Args []string
	Env  []string // the whole environment (ChildEnv); nil: the test's
	// Ready matches the start-up log line; its submatches are returned by
	// AwaitReady. nil: AwaitReady returns at once.
	Ready *regexp.Regexp
	// Dir is the working directory; "": the test's.
	Dir string
	// Attr, when set, is the process's SysProcAttr (e.g. a Credential to
	// run as an unprivileged user).
	Attr *syscall.SysProcAttr
}

// Proc is a running process of a binary under test.
type Proc struct {
	t    testing.TB
	Cmd  *exec.Cmd
	Log  *LogBuffer
	done chan struct{}
	err  error // from Wait, valid after done is closed
}

// Launch starts the binary. The process is SIGKILLed when the test ends, and
// a data race or panic in its output fails the test.
func Launch(t testing.TB, c ProcConfig) *Proc {
	t.Helper()
	p := &Proc{t: t, Log: newLogBuffer(c.Ready), done: make(chan struct{})}
	p.Cmd = exec.Command(c.Bin, c.Args...)
	p.Cmd.Env, p.Cmd.Dir, p.Cmd.SysProcAttr = c.Env, c.Dir, c.Attr
	p.Cmd.Stdout, p.Cmd.Stderr = p.Log, p.Log
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	name := c.Bin[strings.LastIndexByte(c.Bin, '/')+1:]
	t.Cleanup(func() {
		p.Kill()
		out := p.Log.String()
		if strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
			t.Errorf("%s %v reported a data race or panic:\n%s", name, c.Args, out)
		} else if t.Failed() {
			t.Logf("%s %v output:\n%s", name, c.Args, Tail(out, 4000))
		}
	})
	return p
}

// AwaitReady waits up to d for the Ready line and returns its submatches.
func (p *Proc) AwaitReady(t testing.TB, d time.Duration) []string {
	t.Helper()
	select {
	case <-p.Log.ready:
	case <-p.done:
		t.Fatalf("%v exited before its start-up line: %v\n%s", p.Cmd.Args, p.err, Tail(p.Log.String(), 4000))
	case <-time.After(d):
		t.Fatalf("%v did not log its start-up line within %v:\n%s", p.Cmd.Args, d, Tail(p.Log.String(), 4000))
	}
	return p.Log.match
}

// AwaitHTTP200 polls url until it answers 200, for up to d.
func (p *Proc) AwaitHTTP200(t testing.TB, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if p.Exited() {
			t.Fatalf("%v exited: %v\n%s", p.Cmd.Args, p.err, Tail(p.Log.String(), 4000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200 (last: %v %v):\n%s", url, res, err, Tail(p.Log.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL (if the process still runs) and waits for it to exit.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("kill %v: %v", p.Cmd.Args, err)
	}
	<-p.done
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM of
// /proc/<pid>/status; Linux only). The process must still run.
func (p *Proc) PeakRSS() (int64, error) { return p.status("VmHWM") }

// RSS returns the process's resident set size now, in bytes (VmRSS; Linux
// only). The process must still run.
func (p *Proc) RSS() (int64, error) { return p.status("VmRSS") }

// status reads a kB field of /proc/<pid>/status, in bytes.
func (p *Proc) status(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/<pid>/status", field)
}

// Sockets counts the process's open socket descriptors (listeners and
// connections; Linux only). The process must still run.
func (p *Proc) Sockets() (int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", p.Cmd.Process.Pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(dir + "/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n, nil
}

// Tail returns the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// LogBuffer collects a process's output and reports its start-up line.
type LogBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	scanned int
	re      *regexp.Regexp
	match   []string
	ready   chan struct{} // closed when re matched a line
}

func newLogBuffer(re *regexp.Regexp) *LogBuffer {
	l := &LogBuffer{re: re, ready: make(chan struct{})}
	if re == nil {
		close(l.ready)
	}
	return l
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for l.re != nil && l.match == nil {
		rest := l.buf.Bytes()[l.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if m := l.re.FindSubmatch(rest[:i]); m != nil {
			for _, s := range m {
				l.match = append(l.match, string(s))
			}
			close(l.ready)
		}
		l.scanned += i + 1
	}
	return len(p), nil
}

// Ready is closed when the start-up line has been seen.
func (l *LogBuffer) Ready() <-chan struct{} { return l.ready }

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Metric sums the samples of a Prometheus metric scraped from url (a
// /metrics endpoint) whose labels include every one of labels
// (`name="value"`); -1 when url does not answer.
func Metric(url, name string, labels ...string) float64 {
	res, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if !slices.ContainsFunc(labels, func(l string) bool { return !strings.Contains(line[:i], l) }) {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}
