package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRoleCheckerTruthTable(t *testing.T) {
	t.Parallel()
	p := func(roles ...string) *Principal { return &Principal{Subject: "u", Roles: roles} }
	tests := []struct {
		name    string
		checker RoleChecker
		p       *Principal
		want    bool
	}{
		{"any: has one", AnyRole("admin", "editor"), p("editor"), true},
		{"any: has both", AnyRole("admin", "editor"), p("admin", "editor"), true},
		{"any: has none", AnyRole("admin", "editor"), p("user"), false},
		{"any: no roles", AnyRole("admin"), p(), false},
		{"all: has both", AllRoles("admin", "editor"), p("editor", "admin", "user"), true},
		{"all: has one", AllRoles("admin", "editor"), p("admin"), false},
		{"all: has none", AllRoles("admin", "editor"), p(), false},
		{"nil principal", AnyRole("admin"), nil, false},
		{"zero checker", RoleChecker{}, p("admin"), false},
		// Exact match only.
		{"case", AnyRole("admin"), p("Admin"), false},
		{"trailing space", AnyRole("admin"), p("admin "), false},
		{"prefix", AnyRole("admin"), p("adm"), false},
		{"longer", AnyRole("admin"), p("administrator"), false},
		{"comma list", AnyRole("admin"), p("admin,user"), false},
		{"empty role", AnyRole("admin"), p(""), false},
	}
	for _, tt := range tests {
		if got := tt.checker.Allows(tt.p); got != tt.want {
			t.Errorf("%s: Allows = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestGuards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/admin/", f.a.Middleware(RequireRole("admin")(http.HandlerFunc(whoami))))
	mux.Handle("/both", f.a.Middleware(RequireAllRoles("admin", "user")(http.HandlerFunc(whoami))))
	mux.Handle("/checker", f.a.Middleware(AnyRole("user").Middleware(http.HandlerFunc(whoami))))
	mux.Handle("/api/{user_id}/tasks", f.a.Middleware(RequireOwner("user_id")(http.HandlerFunc(whoami))))
	mux.Handle("/users/{id}", f.a.Middleware(RequireOwner("id", "admin")(http.HandlerFunc(whoami))))
	mux.Handle("/nomw", RequireRole("admin")(http.HandlerFunc(whoami)))
	mux.Handle("/owner-nomw/{id}", RequireOwner("id")(http.HandlerFunc(whoami)))
	mux.Handle("/func/", f.a.Middleware(RequireOwnerFunc(func(r *http.Request) string {
		return strings.TrimPrefix(r.URL.Path, "/func/")
	})(http.HandlerFunc(whoami))))
	mux.Handle("/missing-param/{id}", f.a.Middleware(RequireOwner("user_id")(http.HandlerFunc(whoami))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	alice, root := bearer(f.access(t, "u1")), bearer(f.access(t, "u2"))
	const denied = `Bearer realm="api", error="insufficient_scope"`
	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		status int
	}{
		{"admin route, user", "GET", "/admin/stats", alice, 403},
		{"admin route, admin", "GET", "/admin/stats", root, 200},
		{"admin route, HEAD as user", "HEAD", "/admin/stats", alice, 403},
		{"admin route, OPTIONS as user", "OPTIONS", "/admin/stats", alice, 403},
		{"admin route, DELETE as user", "DELETE", "/admin/stats", alice, 403},
		{"admin route, anonymous", "GET", "/admin/stats", nil, 401},
		{"all roles, user", "GET", "/both", alice, 403},
		{"all roles, admin", "GET", "/both", root, 200},
		{"checker, user", "GET", "/checker", alice, 200},
		{"owner, self", "GET", "/api/u1/tasks", alice, 200},
		{"owner, other", "GET", "/api/u2/tasks", alice, 403},
		{"owner, admin without bypass", "GET", "/api/u1/tasks", root, 403},
		{"owner, leading zeros", "GET", "/api/0u1/tasks", alice, 403},
		{"owner, encoded dot-dot", "GET", "/api/%2e%2e/tasks", alice, 403},
		{"owner, case", "GET", "/api/U1/tasks", alice, 403},
		{"owner, anonymous", "GET", "/api/u1/tasks", nil, 401},
		{"owner or admin, self", "GET", "/users/u1", alice, 200},
		{"owner or admin, admin", "GET", "/users/u1", root, 200},
		{"owner or admin, other", "GET", "/users/u2", alice, 403},
		{"guard without middleware", "GET", "/nomw", root, 401},
		{"owner without middleware", "GET", "/owner-nomw/u1", alice, 401},
		{"owner func, self", "GET", "/func/u1", alice, 200},
		{"owner func, other", "GET", "/func/u2", alice, 403},
		{"owner func, empty id", "GET", "/func/", alice, 403},
		{"owner, param not in pattern", "GET", "/missing-param/u1", alice, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, srv, tt.method, tt.path, tt.header, "")
			if res.status != tt.status {
				t.Fatalf("status = %d; want %d", res.status, tt.status)
			}
			switch tt.status {
			case 403:
				if got := res.header.Get("WWW-Authenticate"); got != denied {
					t.Errorf("WWW-Authenticate = %q; want %q", got, denied)
				}
				if tt.method != "HEAD" {
					if code := res.errorCode(t); code != "insufficient_scope" {
						t.Errorf("error = %q", code)
					}
					if strings.Contains(res.body, "user") && !strings.Contains(res.body, "insufficient_scope") {
						t.Errorf("403 body %q lists roles", res.body)
					}
				}
			case 401:
				if got := res.header.Get("WWW-Authenticate"); got != `Bearer realm="api"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
		})
	}
	if !strings.Contains(f.logs.String(), `"event":"access_denied"`) {
		t.Error("a 403 was not logged as access_denied")
	}
}

// Roles come from the store on every request: a role removed there is gone
// on the next request, although the token still lists it.
func TestRoleRevokedInStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.a.Middleware(RequireRole("admin")(http.HandlerFunc(whoami)))
	tok := f.access(t, "u2") // carries "admin"
	serve := func() int {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := serve(); got != 200 {
		t.Fatalf("before: %d; want 200", got)
	}
	f.users.Update("u2", func(a *Account) { a.Roles = []string{"user"} })
	if got := serve(); got != 403 {
		t.Errorf("after the store dropped the role: %d; want 403", got)
	}
}

// decodedPathValue decodes a value exactly once, whether the router handed
// it over decoded or raw, and refuses one that could be two IDs.
func TestDecodedPathValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, value, want string
		ok                bool
	}{
		{"/users/ada@x", "ada@x", "ada@x", true},               // no RawPath
		{"/users/ada%40x", "ada@x", "ada@x", true},             // ServeMux: decoded
		{"/users/ada%40x", "ada%40x", "ada@x", true},           // chi: raw
		{"/users/ada%2540x", "ada%40x", "ada%40x", true},       // ServeMux, double-encoded
		{"/users/ada%2540x/%41", "ada%2540x", "ada%40x", true}, // chi: raw, RawPath set by another segment
		{"/a%40x/users/a%2540x", "a%40x", "", false},           // raw of one, decoded of another
		{"/users/ada%40x", "something-else", "", false},        // not a segment
		{"/users/a%40x/a%40x", "a%40x", "a@x", true},           // the same ID twice
	}
	for _, tt := range tests {
		u, err := url.Parse("http://h" + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodedPathValue(u, tt.value)
		if got != tt.want || ok != tt.ok {
			t.Errorf("decodedPathValue(%s, %q) = %q, %v; want %q, %v", tt.path, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}
