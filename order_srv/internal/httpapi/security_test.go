package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/internal/auth"
	"github.com/shopsaga/shopsaga/internal/openapitest"
	"github.com/shopsaga/shopsaga/internal/paynotify"
	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/httpapi"
)

const (
	authSecret   = "order-httpapi-test-auth-secret-0123456789"
	notifySecret = "order-httpapi-test-notify-secret-012345"
)

// limiter answers err for every order.
type limiter struct{ err error }

func (l *limiter) AllowOrder(context.Context, int64) error { return l.err }

func serveAuth(t *testing.T, svc *service, lim *limiter) *httptest.Server {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWTSecret: authSecret})
	if err != nil {
		t.Fatal(err)
	}
	opts := httpapi.Options{
		Log: slog.New(slog.DiscardHandler), Auth: v, Payments: svc, NotifySecret: notifySecret, PaymentSimulator: true,
	}
	if lim != nil {
		opts.Limits = lim
	}
	srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(svc, opts)))
	t.Cleanup(srv.Close)
	return srv
}

func bearer(t *testing.T, uid int64, scopes ...string) []string {
	t.Helper()
	tok, err := auth.MintUser(authSecret, uid, time.Minute, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"Authorization", "Bearer " + tok}
}

const authOrderBody = `{"address":"a","signer_name":"n","signer_mobile":"1","items":[{"goods_id":1,"num":1}]}`

// TestAuthz_anotherUsersIdsEverywhere: the owner (user 7) may, another user (8) may not — 403
// for a user id in the path, query or body, 404 for another user's order number — and a refused
// request reaches no use case.
func TestAuthz_anotherUsersIdsEverywhere(t *testing.T) {
	t.Parallel()
	owner, other, admin := bearer(t, 7), bearer(t, 8), bearer(t, 1, "admin")
	svcToken := func() []string { // inventory's scope grants nothing here
		tok, err := auth.Mint(authSecret, "order_srv", time.Minute, "service")
		if err != nil {
			t.Fatal(err)
		}
		return []string{"Authorization", "Bearer " + tok}
	}()
	for _, tc := range []struct {
		method, path, body string
		who                []string
		status             int
		code               string
	}{
		{"GET", "/openapi.json", "", nil, 200, ""},
		{"GET", "/v1/orders/" + sn, "", nil, 401, "unauthenticated"},
		{"GET", "/v1/orders/" + sn, "", other, 404, "order_not_found"},
		{"GET", "/v1/orders/" + sn, "", owner, 200, ""},
		{"GET", "/v1/orders/" + sn, "", admin, 200, ""},
		{"GET", "/v1/orders/" + sn, "", svcToken, 404, "order_not_found"},
		{"POST", "/v1/orders", `{"user_id":7,` + authOrderBody[1:], svcToken, 403, "forbidden"},
		{"GET", "/v1/orders/" + sn + "/timeline", "", other, 404, "order_not_found"},
		{"GET", "/v1/orders/" + sn + "/timeline", "", owner, 200, ""},
		{"GET", "/v1/orders/" + sn + "/timeline/page", "", other, 404, "order_not_found"},
		{"POST", "/v1/orders/" + sn + "/pay", "", nil, 401, "unauthenticated"},
		{"POST", "/v1/orders/" + sn + "/pay", "", other, 404, "order_not_found"},
		{"GET", "/v1/orders?user_id=7", "", other, 403, "forbidden"},
		{"GET", "/v1/orders?user_id=7", "", owner, 200, ""},
		{"GET", "/v1/orders", "", owner, 200, ""},
		{"GET", "/v1/orders?user_id=7", "", admin, 200, ""},
		{"GET", "/v1/users/7/cart", "", other, 403, "forbidden"},
		{"PUT", "/v1/users/7/cart/3", `{"num":1}`, other, 403, "forbidden"},
		{"DELETE", "/v1/users/7/cart/3", "", other, 403, "forbidden"},
		{"GET", "/v1/users/7/cart", "", owner, 200, ""},
		{"POST", "/v1/orders", `{"user_id":7,` + authOrderBody[1:], other, 403, "forbidden"},
		{"POST", "/v1/orders", authOrderBody, nil, 401, "unauthenticated"},
		{"POST", "/v1/orders", `{"user_id":7,` + authOrderBody[1:], admin, 201, ""},
	} {
		svc := &service{}
		srv := serveAuth(t, svc, nil)
		r := do(t, srv, tc.method, tc.path, tc.body, tc.who...)
		if r.status != tc.status {
			t.Errorf("%s %s as %v: %d %s, want %d", tc.method, tc.path, tc.who, r.status, r.raw, tc.status)
			continue
		}
		if tc.code != "" && errorCode(r) != tc.code {
			t.Errorf("%s %s: code %s, want %s", tc.method, tc.path, errorCode(r), tc.code)
		}
		if tc.status >= 400 && (svc.created.UserID != 0 || svc.cartPut != [4]int64{} || len(svc.notices) != 0) {
			t.Errorf("%s %s was refused but reached a use case: %+v", tc.method, tc.path, svc)
		}
	}
}

func TestAuthz_orderWithoutUserID_isTheTokensUser(t *testing.T) {
	t.Parallel()
	svc := &service{}
	if r := do(t, serveAuth(t, svc, nil), "POST", "/v1/orders", authOrderBody, bearer(t, 7)...); r.status != 201 || svc.created.UserID != 7 {
		t.Fatalf("%d %s, user %d", r.status, r.raw, svc.created.UserID)
	}
}

func TestAuthz_timelinePage_takesTheTokenFromTheQuery(t *testing.T) {
	t.Parallel()
	srv := serveAuth(t, &service{}, nil)
	tok, _ := auth.MintUser(authSecret, 7, time.Minute)
	get := func(path string) int {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get("/v1/orders/" + sn + "/timeline/page?access_token=" + tok); st != 200 {
		t.Fatalf("page with ?access_token: %d", st)
	}
	if st := get("/v1/orders/" + sn + "/timeline/page?access_token=forged"); st != 401 {
		t.Fatalf("forged ?access_token: %d", st)
	}
	if r := do(t, srv, "GET", "/v1/orders/"+sn+"/timeline?access_token="+tok, ""); r.status != 401 {
		t.Fatalf("the JSON API must not take ?access_token: %d", r.status)
	}
}

func TestLimits_429WithRetryAfter_and409TooManyUnpaid(t *testing.T) {
	t.Parallel()
	svc := &service{}
	srv := serveAuth(t, svc, &limiter{err: &app.RateLimitedError{RetryAfter: 1500 * time.Millisecond}})
	req, _ := http.NewRequest("POST", srv.URL+"/v1/orders", strings.NewReader(authOrderBody))
	h := bearer(t, 7)
	req.Header.Set(h[0], h[1])
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || svc.created.UserID != 0 {
		t.Errorf("rate limited: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	srv = serveAuth(t, svc, &limiter{err: app.ErrTooManyUnpaid})
	if r := do(t, srv, "POST", "/v1/orders", authOrderBody, h...); r.status != 409 || errorCode(r) != "too_many_unpaid_orders" || svc.created.UserID != 0 {
		t.Errorf("unpaid cap: %d %s", r.status, r.raw)
	}
}

func postForm(t *testing.T, srv *httptest.Server, v url.Values) (int, string) {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.URL+"/v1/payments/notify", v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNotify_signedIsApplied_forgedIsRefusedAndChangesNothing drives the notify endpoint.
func TestNotify_signedIsApplied_forgedIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	svc := &service{}
	srv := serveAuth(t, svc, nil)
	n := paynotify.Notice{OutTradeNo: sn, TradeNo: "T1", AmountCents: 399, TradeStatus: paynotify.TradeStatus, NotifyTime: time.Now()}
	forged := paynotify.Signed("a-forger-s-secret-0123456789abcdef01", n)
	if st, body := postForm(t, srv, forged); st != 400 || !strings.Contains(body, "invalid_signature") || len(svc.notices) != 0 {
		t.Fatalf("forged: %d %s", st, body)
	}
	tampered := paynotify.Signed(notifySecret, n)
	tampered.Set("total_amount", "3.98")
	if st, body := postForm(t, srv, tampered); st != 400 || len(svc.notices) != 0 {
		t.Fatalf("amount off by one cent after signing: %d %s", st, body)
	}
	if st, body := postForm(t, srv, paynotify.Signed(notifySecret, n)); st != 200 || body != "success" || len(svc.notices) != 1 {
		t.Fatalf("signed: %d %s", st, body)
	}
	if got := svc.notices[0]; got.TradeNo != "T1" || got.AmountCents != 399 || string(got.OrderSN) != sn {
		t.Errorf("notice %+v", got)
	}
	huge := url.Values{"x": {strings.Repeat("a", 32<<10)}}
	if st, body := postForm(t, srv, huge); st != 413 || len(svc.notices) != 1 {
		t.Errorf("oversized: %d %s", st, body)
	}
}

// contract validates every exchange of the API tests against the OpenAPI document.
var contract = mustContract()

func mustContract() *openapitest.Contract {
	c, err := openapitest.Parse(httpapi.OpenAPI)
	if err != nil {
		panic(err)
	}
	return c
}

// TestBadInput_oversizedBodiesAndHeaders_are4xxJSON.
func TestBadInput_oversizedBodiesAndHeaders_are4xxJSON(t *testing.T) {
	t.Parallel()
	svc := &service{}
	srv := serveAuth(t, svc, nil)
	huge := `{"address":"` + strings.Repeat("a", 100<<10) + `"}`
	if r := do(t, srv, "POST", "/v1/orders", huge, bearer(t, 7)...); r.status != 413 || errorCode(r) != "body_too_large" {
		t.Errorf("100 KiB order: %d %.200s", r.status, r.raw)
	}
	if r := do(t, srv, "PUT", "/v1/users/7/cart/1", `{"num":1,"x":"`+strings.Repeat("b", 100<<10)+`"}`, bearer(t, 7)...); r.status != 413 {
		t.Errorf("100 KiB cart item: %d %.200s", r.status, r.raw)
	}
	if r := do(t, srv, "GET", "/v1/orders/"+sn, "", "Authorization", "Bearer "+strings.Repeat("x", 20<<10)); r.status != 401 || errorCode(r) != "unauthenticated" {
		t.Errorf("20 KiB token: %d %.200s", r.status, r.raw)
	}
	if svc.created.UserID != 0 || svc.cartPut != [4]int64{} {
		t.Errorf("a refused request reached a use case: %+v", svc)
	}
}

func TestReadyz_showsTheAuthWarning(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(&service{}, httpapi.Options{
		Log: slog.New(slog.DiscardHandler), AuthWarning: "authentication is disabled (AUTH_DISABLED=1)"})))
	t.Cleanup(srv.Close)
	if r := do(t, srv, "GET", "/readyz", ""); r.status != 200 || !strings.Contains(r.body["warning"].(string), "AUTH_DISABLED=1") {
		t.Errorf("readyz: %d %s", r.status, r.raw)
	}
}

// TestAuthz_repeatedUserIDQuery_everyValueIsChecked: found in review — the check once read one
// user_id and the handler another (?user_id=8&user_id=7 as user 7 listed user 8's orders).
func TestAuthz_repeatedUserIDQuery_everyValueIsChecked(t *testing.T) {
	t.Parallel()
	for _, q := range []string{"user_id=8&user_id=7", "user_id=7&user_id=8", "user_id=x&user_id=8"} {
		svc := &service{}
		if r := do(t, serveAuth(t, svc, nil), "GET", "/v1/orders?"+q, "", bearer(t, 7)...); r.status != 403 || svc.page != (app.Page{}) {
			t.Errorf("%s as user 7: %d %s", q, r.status, r.raw)
		}
	}
}

// TestFaults_needTheAdminScope: with ORDER_FAULTS=1, X-Fault from the order's own user or a
// service token is 403 JSON and reaches no use case; an admin's is passed on; an order without
// the header is the user's as always.
func TestFaults_needTheAdminScope(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWTSecret: authSecret})
	if err != nil {
		t.Fatal(err)
	}
	svcTok, err := auth.Mint(authSecret, "order_srv", time.Minute, auth.ScopeService)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"user_id":7,` + authOrderBody[1:]
	for _, tc := range []struct {
		name   string
		who    []string
		fault  string
		status int
		want   app.Fault
	}{
		{"the user, with X-Fault", bearer(t, 7), "crash-after-deduct", 403, app.NoFault},
		{"a service token, with X-Fault", []string{"Authorization", "Bearer " + svcTok}, "fail-local-tx", 403, app.NoFault},
		{"the user, without X-Fault", bearer(t, 7), "", 201, app.NoFault},
		{"an admin, with X-Fault", bearer(t, 1, auth.ScopeAdmin), "fail-local-tx", 201, app.FaultFailLocalTx},
	} {
		svc := &service{}
		srv := httptest.NewServer(contract.Wrap(t, httpapi.Router(svc, httpapi.Options{
			Log: slog.New(slog.DiscardHandler), Auth: v, Payments: svc, NotifySecret: notifySecret, Faults: true,
		})))
		headers := tc.who
		if tc.fault != "" {
			headers = append(slices.Clone(headers), "X-Fault", tc.fault)
		}
		r := do(t, srv, "POST", "/v1/orders", body, headers...)
		srv.Close()
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.raw, tc.status)
			continue
		}
		if tc.status == 403 {
			if errorCode(r) != "forbidden" {
				t.Errorf("%s: code %s, want forbidden", tc.name, errorCode(r))
			}
			if svc.created.UserID != 0 {
				t.Errorf("%s: refused but reached the use case: %+v", tc.name, svc.created)
			}
			continue
		}
		if svc.created.Fault != tc.want {
			t.Errorf("%s: fault %q passed on, want %q", tc.name, svc.created.Fault, tc.want)
		}
	}
}
