package synctest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PGCluster is a throwaway PostgreSQL server of one test (initdb and pg_ctl
// into a temporary directory, on a free loopback port), for tests that stop
// and start the database. Never stop the machine's shared server instead.
type PGCluster struct {
	t    testing.TB
	dir  string // data directory
	sock string // socket directory
	port int
	cred *syscall.Credential // run as the postgres user when the test runs as root
	log  string
}

// StartPGCluster creates and starts a cluster; it is stopped and removed
// when the test ends. Without initdb on PATH (or in /usr/lib/postgresql)
// the test skips, or fails under CI=true.
func StartPGCluster(t testing.TB) *PGCluster {
	t.Helper()
	initdb := pgTool("initdb")
	if initdb == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("initdb not found (CI must provide PostgreSQL)")
		}
		t.Skip("initdb not found")
	}
	base, err := os.MkdirTemp("", "syncd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &PGCluster{t: t, dir: filepath.Join(base, "data"), sock: base, log: filepath.Join(base, "server.log")}
	if os.Geteuid() == 0 { // initdb refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.run(pgTool("pg_ctl"), "stop", "-D", c.dir, "-m", "immediate", "-w")
		os.RemoveAll(base)
	})
	if out, err := c.run(initdb, "-D", c.dir, "-U", "postgres", "--auth", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.Start()
	return c
}

// URL is the cluster's connection URL.
func (c *PGCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the server (again) and waits until it accepts connections.
func (c *PGCluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.sock)
	if out, err := c.run(pgTool("pg_ctl"), "start", "-D", c.dir, "-l", c.log, "-o", opts, "-w", "-t", "60"); err != nil {
		log, _ := os.ReadFile(c.log)
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server (fast shutdown: sessions are disconnected).
func (c *PGCluster) Stop() {
	c.t.Helper()
	if out, err := c.run(pgTool("pg_ctl"), "stop", "-D", c.dir, "-m", "fast", "-w", "-t", "60"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (c *PGCluster) run(bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Dir = c.sock
	}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		return out, err
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		return out, fmt.Errorf("%s %v: timed out", bin, args)
	}
}

// pgTool finds a PostgreSQL server binary on PATH or in Debian's
// /usr/lib/postgresql/<version>/bin.
func pgTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}
