package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/cognitosync/cognitosync/syncapi"
)

// ErrDuplicateToken is returned by the paginators when the service answers
// the NextToken it was just sent, which would otherwise loop forever. The
// SDK's paginators stop silently there; for sync data a silent truncation
// would lose records, so this one fails.
var ErrDuplicateToken = errors.New("client: service returned the same NextToken twice")

// ListRecordsAPIClient is the ListRecords call a ListRecordsPaginator pages
// through; *Client and any syncapi.SyncAPI satisfy it.
type ListRecordsAPIClient interface {
	ListRecords(ctx context.Context, in syncapi.ListRecordsInput) (syncapi.ListRecordsOutput, error)
}

// ListDatasetsAPIClient is the ListDatasets call a ListDatasetsPaginator
// pages through; *Client and any syncapi.SyncAPI satisfy it.
type ListDatasetsAPIClient interface {
	ListDatasets(ctx context.Context, in syncapi.ListDatasetsInput) (syncapi.ListDatasetsOutput, error)
}

// ListIdentityPoolUsageAPIClient is the ListIdentityPoolUsage call a
// ListIdentityPoolUsagePaginator pages through; *Client and any
// syncapi.SyncAPI satisfy it.
type ListIdentityPoolUsageAPIClient interface {
	ListIdentityPoolUsage(ctx context.Context, in syncapi.ListIdentityPoolUsageInput) (syncapi.ListIdentityPoolUsageOutput, error)
}

// pager is the state shared by the paginators: the input's NextToken is
// replaced by each page's NextToken until one comes back empty.
type pager struct {
	next      string
	firstPage bool
}

func (p *pager) hasMore() bool { return p.firstPage || p.next != "" }

// advance records the token of the page fetched with sent.
func (p *pager) advance(sent, got string) error {
	p.firstPage = false
	if got != "" && got == sent {
		p.next = ""
		return ErrDuplicateToken
	}
	p.next = got
	return nil
}

// ListRecordsPaginator pages through ListRecords, following NextToken; the
// other input members are sent unchanged on every page. Not safe for
// concurrent use.
type ListRecordsPaginator struct {
	client ListRecordsAPIClient
	in     syncapi.ListRecordsInput
	p      pager
}

// NewListRecordsPaginator returns a paginator starting at in.NextToken.
func NewListRecordsPaginator(client ListRecordsAPIClient, in syncapi.ListRecordsInput) *ListRecordsPaginator {
	return &ListRecordsPaginator{client: client, in: in, p: pager{next: in.NextToken, firstPage: true}}
}

// HasMorePages reports whether NextPage has a page to fetch.
func (p *ListRecordsPaginator) HasMorePages() bool { return p.p.hasMore() }

// NextPage fetches the next page. After an error HasMorePages is unchanged,
// so the call can be repeated, except after ErrDuplicateToken.
func (p *ListRecordsPaginator) NextPage(ctx context.Context) (syncapi.ListRecordsOutput, error) {
	if !p.HasMorePages() {
		return syncapi.ListRecordsOutput{}, errors.New("client: no more pages")
	}
	in := p.in
	in.NextToken = p.p.next
	out, err := p.client.ListRecords(ctx, in)
	if err != nil {
		return out, err
	}
	return out, p.p.advance(in.NextToken, out.NextToken)
}

// ListDatasetsPaginator pages through ListDatasets, following NextToken. Not
// safe for concurrent use.
type ListDatasetsPaginator struct {
	client ListDatasetsAPIClient
	in     syncapi.ListDatasetsInput
	p      pager
}

// NewListDatasetsPaginator returns a paginator starting at in.NextToken.
func NewListDatasetsPaginator(client ListDatasetsAPIClient, in syncapi.ListDatasetsInput) *ListDatasetsPaginator {
	return &ListDatasetsPaginator{client: client, in: in, p: pager{next: in.NextToken, firstPage: true}}
}

// HasMorePages reports whether NextPage has a page to fetch.
func (p *ListDatasetsPaginator) HasMorePages() bool { return p.p.hasMore() }

// NextPage fetches the next page. After an error HasMorePages is unchanged,
// so the call can be repeated, except after ErrDuplicateToken.
func (p *ListDatasetsPaginator) NextPage(ctx context.Context) (syncapi.ListDatasetsOutput, error) {
	if !p.HasMorePages() {
		return syncapi.ListDatasetsOutput{}, errors.New("client: no more pages")
	}
	in := p.in
	in.NextToken = p.p.next
	out, err := p.client.ListDatasets(ctx, in)
	if err != nil {
		return out, err
	}
	return out, p.p.advance(in.NextToken, out.NextToken)
}

// ListIdentityPoolUsagePaginator pages through ListIdentityPoolUsage,
// following NextToken. Not safe for concurrent use.
type ListIdentityPoolUsagePaginator struct {
	client ListIdentityPoolUsageAPIClient
	in     syncapi.ListIdentityPoolUsageInput
	p      pager
}

// NewListIdentityPoolUsagePaginator returns a paginator starting at
// in.NextToken.
func NewListIdentityPoolUsagePaginator(client ListIdentityPoolUsageAPIClient, in syncapi.ListIdentityPoolUsageInput) *ListIdentityPoolUsagePaginator {
	return &ListIdentityPoolUsagePaginator{client: client, in: in, p: pager{next: in.NextToken, firstPage: true}}
}

// HasMorePages reports whether NextPage has a page to fetch.
func (p *ListIdentityPoolUsagePaginator) HasMorePages() bool { return p.p.hasMore() }

// NextPage fetches the next page. After an error HasMorePages is unchanged,
// so the call can be repeated, except after ErrDuplicateToken.
func (p *ListIdentityPoolUsagePaginator) NextPage(ctx context.Context) (syncapi.ListIdentityPoolUsageOutput, error) {
	if !p.HasMorePages() {
		return syncapi.ListIdentityPoolUsageOutput{}, errors.New("client: no more pages")
	}
	in := p.in
	in.NextToken = p.p.next
	out, err := p.client.ListIdentityPoolUsage(ctx, in)
	if err != nil {
		return out, err
	}
	return out, p.p.advance(in.NextToken, out.NextToken)
}

// ListRecordsAll calls ListRecords until NextToken is empty and returns the
// records of every page in order, and the last page's output verbatim (its
// Records are that page's only). The dataset-level members
// (DatasetSyncCount, SyncSessionToken, DatasetExists, …) of the last page are
// the ones to keep, as the JS and Android clients do (spec C.7).
func (c *Client) ListRecordsAll(ctx context.Context, in syncapi.ListRecordsInput) ([]syncapi.Record, syncapi.ListRecordsOutput, error) {
	var (
		all  []syncapi.Record
		last syncapi.ListRecordsOutput
	)
	pg := NewListRecordsPaginator(c, in)
	for page := 1; pg.HasMorePages(); page++ {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return all, last, fmt.Errorf("list records page %d: %w", page, err)
		}
		all = append(all, out.Records...)
		last = out
	}
	return all, last, nil
}

// ListDatasetsAll calls ListDatasets until NextToken is empty and returns
// every dataset in order.
func (c *Client) ListDatasetsAll(ctx context.Context, in syncapi.ListDatasetsInput) ([]syncapi.Dataset, error) {
	var all []syncapi.Dataset
	pg := NewListDatasetsPaginator(c, in)
	for page := 1; pg.HasMorePages(); page++ {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return all, fmt.Errorf("list datasets page %d: %w", page, err)
		}
		all = append(all, out.Datasets...)
	}
	return all, nil
}
