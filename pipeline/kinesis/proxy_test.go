package kinesis_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// faultProxy sits between the client and kinesalite (which never throttles)
// and injects the faults of real Kinesis: throttled calls, PutRecords
// partial failures and expired shard iterators.
type faultProxy struct {
	target string

	ThrottlePut    float64 // share of PutRecords calls failed whole
	FailEntry      float64 // share of PutRecords entries failed
	ThrottleGet    float64 // share of GetRecords calls throttled
	ExpireIterator float64 // share of GetRecords calls with an expired iterator

	mu  sync.Mutex
	rnd *rand.Rand

	PutThrottled, EntriesFailed, GetThrottled, Expired atomic.Int64
}

func newFaultProxy(t *testing.T, target string) (*faultProxy, string) {
	p := &faultProxy{target: strings.TrimRight(target, "/"), rnd: rand.New(rand.NewPCG(1, 2))}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *faultProxy) roll(share float64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rnd.Float64() < share
}

func kinesisError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": "injected by faultProxy"})
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Kinesis_20131202.")
	switch op {
	case "GetRecords":
		if p.roll(p.ThrottleGet) {
			p.GetThrottled.Add(1)
			kinesisError(w, "ProvisionedThroughputExceededException")
			return
		}
		if p.roll(p.ExpireIterator) {
			p.Expired.Add(1)
			kinesisError(w, "ExpiredIteratorException")
			return
		}
	case "PutRecords":
		if p.roll(p.ThrottlePut) {
			p.PutThrottled.Add(1)
			kinesisError(w, "ProvisionedThroughputExceededException")
			return
		}
		if p.FailEntry > 0 {
			p.putPartly(w, r, body)
			return
		}
	}
	p.forward(w, r, body)
}

func (p *faultProxy) do(r *http.Request, body []byte) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	for k, v := range r.Header {
		if k != "Content-Length" {
			req.Header[k] = v
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (p *faultProxy) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	res, err := p.do(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	io.Copy(w, res.Body)
}

// putPartly forwards only some entries and answers as Kinesis does for a
// partial failure: the failed entries carry an ErrorCode, in place.
func (p *faultProxy) putPartly(w http.ResponseWriter, r *http.Request, body []byte) {
	var in map[string]json.RawMessage
	var recs []json.RawMessage
	if json.Unmarshal(body, &in) != nil || json.Unmarshal(in["Records"], &recs) != nil {
		p.forward(w, r, body)
		return
	}
	fail := make([]bool, len(recs))
	var keep []json.RawMessage
	for i, rec := range recs {
		if fail[i] = p.roll(p.FailEntry); !fail[i] {
			keep = append(keep, rec)
		}
	}
	var okRecs []json.RawMessage
	if len(keep) > 0 {
		in["Records"], _ = json.Marshal(keep)
		nb, _ := json.Marshal(in)
		res, err := p.do(r, nb)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rb, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var out struct{ Records []json.RawMessage }
		if res.StatusCode != 200 || json.Unmarshal(rb, &out) != nil {
			w.WriteHeader(res.StatusCode)
			w.Write(rb)
			return
		}
		okRecs = out.Records
	}
	outRecs := make([]json.RawMessage, len(recs))
	failed := 0
	for i := range recs {
		if fail[i] {
			failed++
			outRecs[i] = json.RawMessage(`{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard (injected)"}`)
		} else {
			outRecs[i], okRecs = okRecs[0], okRecs[1:]
		}
	}
	p.EntriesFailed.Add(int64(failed))
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"FailedRecordCount": failed, "Records": outRecs})
}
