// Package openapitest checks an HTTP API against its OpenAPI document in tests, so the document
// cannot drift: Contract.Wrap puts a validator (kin-openapi's openapi3filter, which validates
// OpenAPI 3.1 documents with JSON Schema 2020-12) in front of a handler, and every exchange of
// the tests that use it is validated:
//
//   - every response against the documented responses of its operation (status, content type,
//     body schema), whatever the request was;
//   - every request the API accepted (a 2xx answer) against the operation's parameters and
//     body: the API must not accept what the document forbids. Requests the API refused are the
//     bad-input tests' business and are not held to the document.
//
// A request that matches no documented operation fails the test unless its answer is a 404 or
// 405 error.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Contract is a loaded, valid OpenAPI document. Safe for concurrent use.
type Contract struct {
	doc     *openapi3.T
	router  routers.Router
	checked atomic.Int64
}

// Load parses and validates doc, failing t if it is not a valid OpenAPI document.
func Load(t testing.TB, doc []byte) *Contract {
	t.Helper()
	c, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// registerHTML teaches openapi3filter to read text/html bodies (pages) as strings. The
// registry is the library's, process-wide; registering the same decoder again is harmless.
var registerHTML sync.Once

// Parse parses and validates doc.
func Parse(doc []byte) (*Contract, error) {
	registerHTML.Do(func() { openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) })
	ctx := context.Background()
	d, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: load: %w", err)
	}
	if err := d.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi: invalid document: %w", err)
	}
	d.Servers = nil // match the test servers' addresses, not the documented ones
	r, err := gorillamux.NewRouter(d)
	if err != nil {
		return nil, fmt.Errorf("openapi: router: %w", err)
	}
	return &Contract{doc: d, router: r}, nil
}

// Checked is how many exchanges were validated.
func (c *Contract) Checked() int64 { return c.checked.Load() }

// Wrap returns h behind the validator; a violation fails t.
func (c *Contract) Wrap(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil {
			reqBody, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if err := c.check(r, reqBody, rec); err != nil {
			t.Errorf("OpenAPI contract: %s %s → %d: %v\nresponse: %.500s", r.Method, r.URL.RequestURI(), rec.status, err, rec.body.String())
		}
	})
}

func (c *Contract) check(r *http.Request, reqBody []byte, rec *recorder) error {
	c.checked.Add(1)
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if rec.status == http.StatusNotFound || rec.status == http.StatusMethodNotAllowed {
			return nil
		}
		return fmt.Errorf("no documented operation: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
	ctx := context.Background()
	if rec.status >= 200 && rec.status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("the API accepted a request the document forbids: %w", err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.status,
		Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), Options: in.Options}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("undocumented response: %w", err)
	}
	return nil
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
