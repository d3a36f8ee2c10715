package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// router matches decoded path segments against the Operations table. A label
// ({Name}) matches exactly one non-empty segment; literal segments match
// case-sensitively, as AWS routes them (getBulkPublishDetails is camel-case).
//
// The Go 1.22 net/http.ServeMux patterns ("GET /identitypools/{IdentityPoolId}")
// express the same table, but ServeMux answers what AWS does not: it cleans
// paths and redirects (301) a path with an empty segment or a dot segment,
// so an empty label would be a redirect instead of an error, and its 404 and
// 405 are plain text where SDKs parse UnknownOperationException from the
// AWS error shape. The table stays the one source of routes for the server
// and the client (syncapi/client); this router is what matches it.
type router struct {
	routes []route
}

type route struct {
	op   Operation
	segs []segment
}

type segment struct {
	literal string
	label   string // non-empty for {Label}
}

func newRouter(ops []Operation) (*router, error) {
	rt := &router{}
	for _, op := range ops {
		if _, ok := syncOps[op.Name]; !ok {
			return nil, fmt.Errorf("httpapi: operation %s has no handler", op.Name)
		}
		if !strings.HasPrefix(op.Path, "/") {
			return nil, fmt.Errorf("httpapi: operation %s: path %q does not start with /", op.Name, op.Path)
		}
		var segs []segment
		for _, s := range strings.Split(op.Path[1:], "/") {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) > 2 {
				segs = append(segs, segment{label: s[1 : len(s)-1]})
			} else {
				segs = append(segs, segment{literal: s})
			}
		}
		rt.routes = append(rt.routes, route{op: op, segs: segs})
	}
	return rt, nil
}

// isIdentityPath reports whether an escaped request path is the Cognito
// Identity endpoint: awsJson1.1 always posts to / (spec G.1).
func isIdentityPath(escaped string) bool { return escaped == "/" || escaped == "" }

// splitPath splits the path exactly as received (r.URL.EscapedPath, not the
// decoded r.URL.Path) at "/" and percent-decodes each segment, so an encoded
// %2F stays inside its label (spec A.3). ok is false for a malformed escape.
func splitPath(escaped string) (segs []string, ok bool) {
	escaped = strings.TrimPrefix(escaped, "/")
	raw := strings.Split(escaped, "/")
	segs = make([]string, len(raw))
	for i, s := range raw {
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = d
	}
	return segs, true
}

// match finds the operation for method and the escaped path. It returns a
// *wireError: UnknownOperationException 404 for a path no operation has,
// 405 (with the allowed methods) for a known path and another method.
func (rt *router) match(method, escapedPath string) (Operation, map[string]string, error) {
	segs, ok := splitPath(escapedPath)
	if !ok {
		return Operation{}, nil, errNoRoute(escapedPath)
	}
	var allowed []string
	for _, r := range rt.routes {
		labels, ok := r.matchPath(segs)
		if !ok {
			continue
		}
		if r.op.Method == method {
			return r.op, labels, nil
		}
		if !slices.Contains(allowed, r.op.Method) {
			allowed = append(allowed, r.op.Method)
		}
	}
	if len(allowed) == 0 {
		return Operation{}, nil, errNoRoute(escapedPath)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return Operation{}, nil, &wireError{
		code: CodeUnknownOperation, status: http.StatusMethodNotAllowed, allow: allow,
		message: fmt.Sprintf("method %s is not allowed on this resource; allowed: %s", sanitize(method), allow),
	}
}

func errNoRoute(path string) error {
	return &wireError{code: CodeUnknownOperation, status: http.StatusNotFound,
		message: "no operation matches the path " + sanitize(path)}
}

// sanitize bounds client-supplied text echoed in an error message.
func sanitize(s string) string {
	const max = 256
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (r route) matchPath(segs []string) (map[string]string, bool) {
	if len(segs) != len(r.segs) {
		return nil, false
	}
	var labels map[string]string
	for i, s := range r.segs {
		if s.label == "" {
			if segs[i] != s.literal {
				return nil, false
			}
			continue
		}
		if segs[i] == "" {
			return nil, false
		}
		if labels == nil {
			labels = make(map[string]string, len(r.segs))
		}
		labels[s.label] = segs[i]
	}
	return labels, true
}
