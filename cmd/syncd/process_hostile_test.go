package main_test

// Black-box tests of syncd under hostile clients: nothing unauthenticated
// may hold memory, connections or a shutdown. They run the real binary and
// talk to it with raw TCP clients that stall, and with the official
// aws-sdk-go-v2 Cognito Identity client. Every bound asserted here is one
// the test configures (a deadline, a cap) or a bound on memory, never a
// speed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

const mib = 1 << 20

// stalledConn is a raw client connection that sends a request head and a
// burst of body bytes at once, then one byte a second until the server
// closes the connection or the client gives up.
type stalledConn struct {
	start  time.Time
	closed chan time.Duration // when, after start, the server closed it
}

// stall opens a stalledConn to addr. The connection is closed when the test
// ends.
func stall(t *testing.T, addr, head string, burst int, giveUp time.Duration) *stalledConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &stalledConn{start: time.Now(), closed: make(chan time.Duration, 1)}
	go func() {
		// The server closing the connection (after an answer or without)
		// ends the read; so does the client giving up, which the test
		// reports as not closed.
		_ = c.SetReadDeadline(s.start.Add(giveUp))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return
		}
		s.closed <- time.Since(s.start)
	}()
	go func() {
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = ' '
		}
		for sent := 0; sent < burst; {
			n, err := c.Write(chunk[:min(len(chunk), burst-sent)])
			if err != nil {
				return
			}
			sent += n
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for time.Since(s.start) < giveUp {
			<-tick.C
			if _, err := c.Write([]byte{' '}); err != nil {
				return
			}
		}
	}()
	return s
}

// scheduling is what a deadline may be overrun by on a loaded machine (two
// cores shared by parallel test binaries, syncd built with -race).
const scheduling = 3 * time.Second

// requireClosedWithin waits for every connection and fails for those the
// server did not close within the deadline (plus scheduling) of their start.
func requireClosedWithin(t *testing.T, what string, conns []*stalledConn, deadline time.Duration) {
	t.Helper()
	bound := deadline + scheduling
	late := 0
	var worst time.Duration
	for _, s := range conns {
		// A close already reported wins over a wait that has run out
		// while earlier connections were checked.
		wait := time.NewTimer(max(time.Until(s.start.Add(bound+time.Second)), 0))
		var d time.Duration
		select {
		case d = <-s.closed:
		default:
			select {
			case d = <-s.closed:
			case <-wait.C:
				d = time.Since(s.start)
			}
		}
		wait.Stop()
		worst = max(worst, d)
		if d > bound {
			late++
		}
	}
	if late > 0 {
		t.Errorf("%s: %d of %d connections still open past %v (longest %v)", what, late, len(conns), bound, worst.Round(time.Millisecond))
	} else {
		t.Logf("%s: %d connections closed by syncd, the last after %v", what, len(conns), worst.Round(time.Millisecond))
	}
}

func postHead(addr, path string, length int, headers ...string) string {
	h := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", path, addr, length)
	for _, kv := range headers {
		h += kv + "\r\n"
	}
	return h + "\r\n"
}

func getIDHead(addr string, length int) string {
	return postHead(addr, "/", length, "X-Amz-Target: AWSCognitoIdentityService.GetId", "Content-Type: application/x-amz-json-1.1")
}

func updateHead(addr, pool string, length int) string {
	return postHead(addr, "/identitypools/"+strings.Replace(pool, ":", "%3A", 1)+"/identities/"+
		strings.Replace(pool, ":", "%3A", 1)+"/datasets/d", length, "Content-Type: application/json")
}

// idleRSS is syncd's resident set once it has served a few requests.
func idleRSS(t *testing.T, p *proc, pool string) int64 {
	t.Helper()
	for range 3 {
		newIdentity(t, p.Endpoint, pool)
	}
	rss, err := p.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return rss
}

func peakGrowth(t *testing.T, p *proc, idle int64) int64 {
	t.Helper()
	peak, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	return peak - idle
}

// TestHostile_StalledBodies: 120 clients that send headers and then stall
// or trickle their body at 1 byte/s, unauthenticated, are all cut within the
// header deadline (the read deadline, for a whole request, is far longer),
// and syncd's memory does not grow with what they announced or sent. Before, 40 such clients held +200–325 MB for as long as
// they liked (issue: unauthenticated memory and connection pinning).
func TestHostile_StalledBodies(t *testing.T) {
	const headerTimeout, readTimeout = 2 * time.Second, 20 * time.Second
	pool := synctest.PoolID()
	p := startSyncd(t, "--pool", pool, "--stream", "none", "--get-id-rate-per-address", "0",
		"--read-header-timeout", headerTimeout.String(), "--read-timeout", readTimeout.String())
	idle := idleRSS(t, p, pool)
	const giveUp = 40 * time.Second // far past every deadline: only syncd ends these

	var unsignedSync, getIDOverCap, getIDStalled, headers []*stalledConn
	for range 40 {
		// Most of an 8 MiB body at once: before, all of it was read
		// before the missing signature was noticed.
		unsignedSync = append(unsignedSync, stall(t, p.Addr, updateHead(p.Addr, pool, 8*mib), 7*mib, giveUp))
		// An unsigned call is read, but within its cap and the header
		// deadline (no real client needs more for 16 KiB).
		getIDStalled = append(getIDStalled, stall(t, p.Addr, getIDHead(p.Addr, 16000), 15000, giveUp))
	}
	for range 20 {
		getIDOverCap = append(getIDOverCap, stall(t, p.Addr, getIDHead(p.Addr, 8*mib), 4*mib, giveUp))
		headers = append(headers, stall(t, p.Addr, "POST / HTTP/1.1\r\nHost: "+p.Addr+"\r\nX-Slow: ", 0, giveUp))
	}

	requireClosedWithin(t, "unsigned UpdateRecords, 8 MiB announced", unsignedSync, headerTimeout)
	requireClosedWithin(t, "GetId over its body cap", getIDOverCap, headerTimeout)
	requireClosedWithin(t, "GetId trickling its body", getIDStalled, headerTimeout)
	requireClosedWithin(t, "headers never finished", headers, headerTimeout)

	// Generous: 40 clients had 280 MiB on the wire; a read of them would
	// show several times the bound.
	if g := peakGrowth(t, p, idle); g > 64*mib {
		t.Errorf("syncd's peak RSS grew %d MiB over its idle %d MiB while stalled clients held connections", g/mib, idle/mib)
	} else {
		t.Logf("peak RSS %d MiB over an idle %d MiB", g/mib, idle/mib)
	}
	newIdentity(t, p.Endpoint, pool) // still serving
}

// TestHostile_LargeUnsignedBodies: 64 concurrent unsigned 8 MiB bodies (on
// both wires) are refused without being held: syncd's memory grows by a
// fraction of their size. Before, they took RSS from 42 to 437 MB.
func TestHostile_LargeUnsignedBodies(t *testing.T) {
	pool := synctest.PoolID()
	p := startSyncd(t, "--pool", pool, "--stream", "none")
	idle := idleRSS(t, p, pool)

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url, target := p.Endpoint+"/identitypools/"+pool+"/identities/"+pool+"/datasets/d", ""
			if i%2 == 1 {
				url, target = p.Endpoint+"/", "AWSCognitoIdentityService.GetId"
			}
			req, err := http.NewRequest("POST", url, io.LimitReader(zeros{}, 8*mib))
			if err != nil {
				t.Error(err)
				return
			}
			req.ContentLength = 8 * mib
			if target != "" {
				req.Header.Set("X-Amz-Target", target)
			}
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			res, err := (&http.Client{Transport: tr, Timeout: 60 * time.Second}).Do(req)
			key := "transport error"
			if err == nil {
				res.Body.Close()
				key = res.Status + " " + res.Header.Get("X-Amzn-Errortype")
			}
			mu.Lock()
			statuses[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("answers: %v", statuses)
	for s := range statuses {
		if strings.HasPrefix(s, "2") {
			t.Errorf("an unsigned 8 MiB body was accepted: %v", statuses)
		}
	}
	if g := peakGrowth(t, p, idle); g > 64*mib {
		t.Errorf("syncd's peak RSS grew %d MiB over its idle %d MiB for 512 MiB of unsigned bodies", g/mib, idle/mib)
	} else {
		t.Logf("peak RSS %d MiB over an idle %d MiB", g/mib, idle/mib)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestHostile_ConnectionCap: syncd never holds more connections than
// --max-connections, whatever clients open; stalled ones are cut by the
// header deadline, and at the cap idle keep-alive connections make room for
// new clients instead of keeping them waiting for the idle timeout.
func TestHostile_ConnectionCap(t *testing.T) {
	const limit = 16
	pool := synctest.PoolID()
	p := startSyncd(t, "--pool", pool, "--stream", "none", "--max-connections", fmt.Sprint(limit),
		"--read-header-timeout", "3s", "--read-timeout", "4s", "--idle-timeout", "10m")
	base, err := p.Sockets() // the listener(s), before any client
	if err != nil {
		t.Fatal(err)
	}

	// Three times the cap of clients that connect and send nothing.
	var silent []*stalledConn
	for range 3 * limit {
		silent = append(silent, stall(t, p.Addr, "", 0, 40*time.Second))
	}
	most := 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n, err := p.Sockets()
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, n-base)
		time.Sleep(20 * time.Millisecond)
	}
	if most > limit {
		t.Errorf("syncd held %d client connections, over --max-connections %d", most, limit)
	}
	if most == 0 {
		t.Fatal("syncd accepted none of the clients")
	}
	// Each silent client is accepted in turn as others are cut, so the last
	// ones wait three header deadlines.
	requireClosedWithin(t, "silent connections", silent, 3*3*time.Second)

	// Fill the cap with idle keep-alive connections, then a new client must
	// still be served long before the 10 minute idle timeout.
	var idle []*http.Transport
	for range limit {
		tr := &http.Transport{}
		idle = append(idle, tr)
		res, err := (&http.Client{Transport: tr}).Get(p.Endpoint + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	defer func() {
		for _, tr := range idle {
			tr.CloseIdleConnections()
		}
	}()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	res, err := client.Get(p.Endpoint + "/healthz")
	if err != nil {
		t.Fatalf("a new client at the cap of idle connections: %v", err)
	}
	res.Body.Close()
	if n, _ := p.Sockets(); n-base > limit {
		t.Errorf("syncd holds %d client connections, over --max-connections %d", n-base, limit)
	}
}

// TestHostile_SIGTERMWithStalledClients: SIGTERM with unauthenticated
// clients stalled in their headers or body ends them at once: syncd exits 0
// long before any of its deadlines (read 25 s, shutdown 30 s) would. Before,
// they held the shutdown for its whole timeout, and syncd then exited 1.
func TestHostile_SIGTERMWithStalledClients(t *testing.T) {
	pool := synctest.PoolID()
	p := startSyncd(t, "--pool", pool, "--stream", "none", "--shutdown-timeout", "30s",
		"--read-header-timeout", "20s", "--read-timeout", "25s")
	var conns []*stalledConn
	for range 10 {
		conns = append(conns,
			stall(t, p.Addr, "POST / HTTP/1.1\r\nHost: "+p.Addr+"\r\nX-Slow: ", 0, time.Minute),
			stall(t, p.Addr, getIDHead(p.Addr, 16000), 100, time.Minute),
			stall(t, p.Addr, "", 0, time.Minute))
	}
	// Wait until syncd holds them all (its listener is one more socket).
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := p.Sockets()
		if err != nil {
			t.Fatal(err)
		}
		if n > len(conns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("syncd holds %d sockets, want its listener and %d connections", n, len(conns))
		}
		time.Sleep(20 * time.Millisecond)
	}

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", code, p.log)
	}
	t.Logf("exited 0 %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if out := p.log.String(); !strings.Contains(out, "shutdown: cut clients") {
		t.Errorf("no log line about the clients cut:\n%s", out)
	}
}

// forwardedFor makes a v2 client send X-Forwarded-For: addr.
func forwardedFor(addr string) func(*cognitoidentity.Options) {
	return func(o *cognitoidentity.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(middleware.BuildMiddlewareFunc("ForwardedFor", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if r, ok := in.Request.(*smithyhttp.Request); ok {
					r.Header.Set("X-Forwarded-For", addr)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
		})
	}
}

func identityClient(endpoint string, opts ...func(*cognitoidentity.Options)) *cognitoidentity.Client {
	return cognitoidentity.New(cognitoidentity.Options{
		Region: synctest.Region, BaseEndpoint: aws.String(endpoint), Credentials: aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	}, opts...)
}

func requireThrottled(t *testing.T, what string, err error) {
	t.Helper()
	var tooMany *types.TooManyRequestsException
	if !errors.As(err, &tooMany) {
		t.Fatalf("%s: %v, want TooManyRequestsException", what, err)
	}
}

// TestHostile_GuestRateLimits: GetId and GetCredentialsForIdentity are
// limited per pool and per client address, and the official client gets
// TooManyRequestsException; refusals are counted. Before, one client made
// about 3,000 identities a second.
func TestHostile_GuestRateLimits(t *testing.T) {
	ctx := context.Background()
	getID := func(c *cognitoidentity.Client, pool string) (string, error) {
		out, err := c.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool)})
		if err != nil {
			return "", err
		}
		return *out.IdentityId, nil
	}
	getCreds := func(c *cognitoidentity.Client, id string) error {
		_, err := c.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(id)})
		return err
	}

	t.Run("per pool", func(t *testing.T) {
		a, b := synctest.PoolID(), synctest.PoolID()
		// 0.001/s: a burst of one call (twice the rate, rounded up), then
		// nothing for 1000 s.
		p := startSyncd(t, "--pool", a, "--pool", b, "--stream", "none",
			"--get-id-rate", "0.001", "--get-credentials-rate", "0.001",
			"--get-id-rate-per-address", "0", "--get-credentials-rate-per-address", "0")
		c := identityClient(p.Endpoint)
		id, err := getID(c, a)
		if err != nil {
			t.Fatalf("first GetId: %v", err)
		}
		_, err = getID(c, a)
		requireThrottled(t, "second GetId of the pool", err)
		idB, err := getID(c, b)
		if err != nil {
			t.Fatalf("GetId of another pool: %v", err)
		}
		if err := getCreds(c, id); err != nil {
			t.Fatalf("first GetCredentialsForIdentity: %v", err)
		}
		requireThrottled(t, "second GetCredentialsForIdentity of the pool", getCreds(c, id))
		if err := getCreds(c, idB); err != nil {
			t.Fatalf("GetCredentialsForIdentity in another pool: %v", err)
		}
		m := p.Endpoint + "/metrics"
		if got := synctest.Metric(m, "cognitosync_throttled_requests_total", `operation="GetId"`, `scope="pool"`); got != 1 {
			t.Errorf("GetId refusals per pool counted %v, want 1", got)
		}
		if got := synctest.Metric(m, "cognitosync_requests_total", `operation="GetCredentialsForIdentity"`, `code="TooManyRequestsException"`); got != 1 {
			t.Errorf("GetCredentialsForIdentity TooManyRequestsException counted %v, want 1", got)
		}
	})

	t.Run("per address", func(t *testing.T) {
		pool := synctest.PoolID()
		p := startSyncd(t, "--pool", pool, "--stream", "none",
			"--get-id-rate", "0", "--get-credentials-rate", "0",
			"--get-id-rate-per-address", "0.001", "--get-credentials-rate-per-address", "0.001",
			"--client-address-header", "X-Forwarded-For")
		one := identityClient(p.Endpoint, forwardedFor("198.51.100.7"))
		other := identityClient(p.Endpoint, forwardedFor("10.1.1.1, 2001:db8:1:2::5")) // the proxy's entry is the last
		sameHost := identityClient(p.Endpoint, forwardedFor("2001:db8:1:2::9"))        // same /64
		id, err := getID(one, pool)
		if err != nil {
			t.Fatalf("first GetId: %v", err)
		}
		_, err = getID(one, pool)
		requireThrottled(t, "second GetId from the address", err)
		if _, err := getID(other, pool); err != nil {
			t.Fatalf("GetId from another address: %v", err)
		}
		_, err = getID(sameHost, pool)
		requireThrottled(t, "GetId from the same IPv6 /64", err)
		if err := getCreds(one, id); err != nil {
			t.Fatalf("first GetCredentialsForIdentity: %v", err)
		}
		requireThrottled(t, "second GetCredentialsForIdentity from the address", getCreds(one, id))
		if got := synctest.Metric(p.Endpoint+"/metrics", "cognitosync_throttled_requests_total", `scope="address"`); got != 3 {
			t.Errorf("refusals per address counted %v, want 3", got)
		}
	})
}
