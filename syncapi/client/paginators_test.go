package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
)

// TestListRecordsAll_ThreePages follows NextToken over three pages, sending
// the other query members unchanged, and keeps the last page's dataset
// members.
func TestListRecordsAll_ThreePages(t *testing.T) {
	next := map[string]string{"": "p2", "p2": "p3/+=", "p3/+=": ""}
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		tok := q.Get("nextToken")
		seen = append(seen, tok)
		if q.Get("lastSyncCount") != "3" || q.Get("maxResults") != "2" || q.Get("syncSessionToken") != "" {
			t.Errorf("page %q query %q", tok, r.URL.RawQuery)
		}
		nt, ok := next[tok]
		if !ok {
			t.Errorf("unexpected nextToken %q", tok)
		}
		page := len(seen)
		body := fmt.Sprintf(`{"Records":[{"Key":"k%da","Value":"v","SyncCount":%d,"LastModifiedDate":1.412974057151E9},
			{"Key":"k%db","SyncCount":%d,"LastModifiedDate":1.412974057151E9}],"Count":2,"DatasetSyncCount":%d,
			"DatasetExists":true,"DatasetDeletedAfterRequestedSyncCount":false,"SyncSessionToken":"s%d","NextToken":%q}`,
			page, 3+page, page, 3+page, 9, page, nt)
		writeJSON(w, 200, body)
	}))
	defer srv.Close()
	all, last, err := newClient(t, srv).ListRecordsAll(context.Background(), syncapi.ListRecordsInput{
		IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", LastSyncCount: aws.Int64(3), MaxResults: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[1] != "p2" || seen[2] != "p3/+=" {
		t.Errorf("tokens sent %q", seen)
	}
	var keys []string
	for _, r := range all {
		keys = append(keys, r.Key)
	}
	if fmt.Sprint(keys) != "[k1a k1b k2a k2b k3a k3b]" {
		t.Errorf("records %v", keys)
	}
	if all[1].Value != nil || all[0].Value == nil {
		t.Errorf("tombstone not preserved: %+v", all[:2])
	}
	if last.SyncSessionToken != "s3" || last.DatasetSyncCount != 9 || last.NextToken != "" || len(last.Records) != 2 {
		t.Errorf("last page %+v", last)
	}
}

// TestListRecordsAll_DuplicateToken fails instead of looping forever.
func TestListRecordsAll_DuplicateToken(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		writeJSON(w, 200, `{"Records":[],"Count":0,"DatasetSyncCount":1,"DatasetExists":true,
			"DatasetDeletedAfterRequestedSyncCount":false,"SyncSessionToken":"s","NextToken":"same"}`)
	}))
	defer srv.Close()
	_, _, err := newClient(t, srv).ListRecordsAll(context.Background(), syncapi.ListRecordsInput{
		IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings"})
	if !errors.Is(err, client.ErrDuplicateToken) || calls != 2 {
		t.Fatalf("err %v after %d calls, want ErrDuplicateToken after 2", err, calls)
	}
}

// TestListRecordsAll_ErrorOnPage: an error on a later page is returned with
// the records gathered so far.
func TestListRecordsAll_ErrorOnPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("nextToken") == "" {
			writeJSON(w, 200, `{"Records":[{"Key":"a","Value":"1","SyncCount":1}],"Count":1,"NextToken":"n","SyncSessionToken":"s"}`)
			return
		}
		w.Header().Set("x-amzn-ErrorType", "NotAuthorizedException")
		writeJSON(w, 403, `{"message":"nope"}`)
	}))
	defer srv.Close()
	all, _, err := newClient(t, srv).ListRecordsAll(context.Background(), syncapi.ListRecordsInput{
		IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings"})
	if !errors.Is(err, syncapi.ErrNotAuthorized) || len(all) != 1 {
		t.Fatalf("err %v, records %v", err, all)
	}
}

// TestListDatasetsPaginator pages ListDatasets; ListDatasetsAll gathers them.
func TestListDatasetsPaginator(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch tok := r.URL.Query().Get("nextToken"); tok {
		case "":
			writeJSON(w, 200, `{"Datasets":[{"DatasetName":"a"},{"DatasetName":"b"}],"Count":2,"NextToken":"t1"}`)
		case "t1":
			writeJSON(w, 200, `{"Datasets":[{"DatasetName":"c"}],"Count":1,"NextToken":null}`)
		default:
			t.Errorf("unexpected token %q", tok)
		}
	}))
	defer srv.Close()
	c := newClient(t, srv)
	in := syncapi.ListDatasetsInput{IdentityPoolID: pool, IdentityID: identity, MaxResults: aws.Int32(2)}

	p := client.NewListDatasetsPaginator(c, in)
	pages := 0
	for p.HasMorePages() {
		if _, err := p.NextPage(context.Background()); err != nil {
			t.Fatal(err)
		}
		pages++
	}
	if pages != 2 {
		t.Errorf("%d pages, want 2", pages)
	}
	if _, err := p.NextPage(context.Background()); err == nil {
		t.Error("NextPage after the last page: no error")
	}

	all, err := c.ListDatasetsAll(context.Background(), in)
	if err != nil || len(all) != 3 || all[2].DatasetName != "c" {
		t.Fatalf("ListDatasetsAll: %v %+v", err, all)
	}
}

// TestListIdentityPoolUsagePaginator pages ListIdentityPoolUsage.
func TestListIdentityPoolUsagePaginator(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("nextToken") == "" {
			writeJSON(w, 200, `{"IdentityPoolUsages":[{"IdentityPoolId":"p1"}],"MaxResults":1,"Count":1,"NextToken":"dXM="}`)
			return
		}
		writeJSON(w, 200, `{"IdentityPoolUsages":[{"IdentityPoolId":"p2"}],"MaxResults":1,"Count":1}`)
	}))
	defer srv.Close()
	p := client.NewListIdentityPoolUsagePaginator(newClient(t, srv), syncapi.ListIdentityPoolUsageInput{MaxResults: aws.Int32(1)})
	var ids []string
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.IdentityPoolUsages {
			ids = append(ids, u.IdentityPoolID)
		}
	}
	if fmt.Sprint(ids) != "[p1 p2]" {
		t.Errorf("pools %v", ids)
	}
}
