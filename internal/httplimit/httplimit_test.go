package httplimit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/httplimit"
)

// serve runs h under a Guard on a loopback listener until the test ends and
// returns the server and its address.
func serve(t *testing.T, c httplimit.Config, h http.Handler) (*http.Server, string) {
	t.Helper()
	g, err := httplimit.New(c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.Server(h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(g.Listener(ln)); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return srv, ln.Addr().String()
}

// rawRequest sends a POST head announcing length body bytes, then sent of
// them, and returns the connection.
func rawRequest(t *testing.T, addr, path string, length, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", path, addr, length, strings.Repeat("b", sent))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A body read that would pass MaxBodyBytesInFlight waits for budget, and gets
// ErrBodyBudget at its read deadline if none frees; the budget of a body is
// free again once its handler returns.
func TestBodyBudget(t *testing.T) {
	release := make(chan struct{})
	results := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/hold":
			results <- err
			<-release
		default:
			results <- err
		}
	})
	reg := prometheus.NewRegistry()
	_, addr := serve(t, httplimit.Config{MaxBodyBytesInFlight: 100 << 10, ReadTimeout: 2 * time.Second, Registerer: reg}, h)
	inflight := func() float64 { return gauge(t, reg, "cognitosync_http_request_body_bytes_in_flight") }

	rawRequest(t, addr, "/hold", 80<<10, 80<<10)
	if err := <-results; err != nil {
		t.Fatalf("first body: %v", err)
	}
	waitFor(t, "80 KiB in flight", func() bool { return inflight() == 80<<10 })
	// 40 KiB more would pass 100 KiB: the read waits, then gives up at the
	// read deadline.
	rawRequest(t, addr, "/", 40<<10, 40<<10)
	if err := <-results; !errors.Is(err, httplimit.ErrBodyBudget) {
		t.Fatalf("body over the budget: %v, want ErrBodyBudget", err)
	}
	if got := counter(t, reg, "cognitosync_http_requests_cut_total", "body_budget"); got != 1 {
		t.Errorf("budget refusals counted %v, want 1", got)
	}
	// Once the first handler returns, its budget is free again.
	close(release)
	waitFor(t, "the held body released", func() bool { return inflight() == 0 })
	rawRequest(t, addr, "/", 40<<10, 40<<10)
	if err := <-results; err != nil {
		t.Fatalf("body after the budget freed: %v", err)
	}
}

// Shutdown cuts unauthenticated requests still sending their body and
// connections that have not sent a request, and waits for trusted uploads.
func TestShutdown_CutsOnlyUntrusted(t *testing.T) {
	type result struct {
		path string
		n    int
		err  error
	}
	results := make(chan result, 2)
	started := make(chan struct{}, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/trusted" {
			httplimit.Trust(r.Body)
		}
		started <- struct{}{}
		b, err := io.ReadAll(r.Body)
		results <- result{r.URL.Path, len(b), err}
		if err != nil {
			http.Error(w, "cut", http.StatusRequestTimeout)
			return
		}
		io.WriteString(w, "ok")
	})
	srv, addr := serve(t, httplimit.Config{ReadTimeout: time.Minute, ReadHeaderTimeout: time.Minute}, h)
	untrusted := rawRequest(t, addr, "/untrusted", 100, 10)
	trusted := rawRequest(t, addr, "/trusted", 100, 10)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if _, err := io.WriteString(silent, "POST / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	<-started
	<-started

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	r := <-results
	if r.path != "/untrusted" || !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("first result %+v, want the untrusted body cut", r)
	}
	if _, err := io.ReadAll(untrusted); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("untrusted connection: %v", err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("a connection without a whole request: read %d bytes, %v; want it closed", n, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v before the trusted upload finished", err)
	default:
	}
	if _, err := io.WriteString(trusted, strings.Repeat("b", 90)); err != nil {
		t.Fatal(err)
	}
	if r := <-results; r.path != "/trusted" || r.err != nil || r.n != 100 {
		t.Fatalf("trusted upload: %+v", r)
	}
	res, err := http.ReadResponse(bufio.NewReader(trusted), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("trusted response: %v %v", res, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A client that does not take its response is cut by the write deadline,
// so the handler (and a shutdown) does not wait on it.
func TestWriteDeadline(t *testing.T) {
	wrote := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<20)
		for {
			if _, err := w.Write(buf); err != nil {
				wrote <- err
				return
			}
		}
	})
	_, addr := serve(t, httplimit.Config{WriteTimeout: 500 * time.Millisecond}, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client never reads.
	select {
	case err := <-wrote:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Logf("write failed with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler still writes to a client that reads nothing")
	}
}

// At the connection cap a new client is accepted once an idle keep-alive
// connection is closed for it, and no more than the cap are ever open.
func TestConnectionCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, addr := serve(t, httplimit.Config{MaxConns: 2, IdleTimeout: time.Hour, Registerer: reg},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	var trs []*http.Transport
	defer func() {
		for _, tr := range trs {
			tr.CloseIdleConnections()
		}
	}()
	for i := range 4 {
		tr := &http.Transport{}
		trs = append(trs, tr)
		c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		res, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if n := gauge(t, reg, "cognitosync_http_connections"); n > 2 {
			t.Fatalf("%v connections open, the cap is 2", n)
		}
	}
}

func TestNew_Validate(t *testing.T) {
	_, err := httplimit.New(httplimit.Config{MaxConns: -1, ReadTimeout: time.Second, ReadHeaderTimeout: time.Minute, MaxBodyBytesInFlight: -1})
	if err == nil {
		t.Fatal("invalid Config accepted")
	}
	for _, want := range []string{"MaxConns", "ReadHeaderTimeout", "MaxBodyBytesInFlight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

func counter(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
