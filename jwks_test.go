package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer is an issuer's JWKS endpoint whose answer a test changes.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	body    []byte
	status  int
	cc      string
	block   chan struct{} // if not nil, requests wait on it (a slow endpoint)
}

func newJWKSServer(t *testing.T, keys ...Key) *jwksServer {
	t.Helper()
	s := &jwksServer{status: 200}
	s.setKeys(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, status, cc, block := s.body, s.status, s.cc, s.block
		s.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, keys ...Key) {
	t.Helper()
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = string(jwkJSONOf(t, jwkOf(t, k)))
	}
	s.set(200, `{"keys":[`+strings.Join(parts, ",")+`]}`)
}

func (s *jwksServer) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, []byte(body)
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newEd25519Key(t testing.TB, id string) Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewSigningKey(id, "EdDSA", priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// extToken mints a token as Better Auth does: {alg, kid}, no typ.
func extToken(t testing.TB, k Key, kid string) string {
	t.Helper()
	return forge(t, k, AccessToken, fmt.Sprintf(`{"alg":%q,"kid":%q}`, k.Algorithm(), kid),
		`{"sub":"u1","exp":1700000900,"iss":"https://app.example","aud":"https://app.example"}`)
}

// jwksIssuer is an ExternalIssuer over a JWKS at srv, with the test clock.
func jwksIssuer(t *testing.T, srv *jwksServer, clock *testClock, opts ...JWKSOption) (*ExternalIssuer, *JWKS) {
	t.Helper()
	opts = append([]JWKSOption{WithJWKSClock(clock.Now), WithJWKSLogger(discardLogger())}, opts...)
	j, err := NewJWKS(srv.URL+"/api/auth/jwks", opts...)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := NewExternalIssuer(Key{}, nil, WithJWKS(j), WithClock(fixedClock),
		WithIssuer("https://app.example"), WithAudience("https://app.example"))
	if err != nil {
		t.Fatal(err)
	}
	return ext, j
}

func wantFetches(t *testing.T, srv *jwksServer, j *JWKS, want int64) {
	t.Helper()
	if got := srv.fetches.Load(); got != want {
		t.Errorf("the endpoint served %d fetches; want %d", got, want)
	}
	if got := j.Fetches(); got != want {
		t.Errorf("JWKS.Fetches() = %d; want %d", got, want)
	}
}

// A key rotation at the issuer: a token with the new kid verifies at once,
// after exactly one refetch; the key the issuer dropped stops verifying.
func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := newEd25519Key(t, "k1"), newEd25519Key(t, "k2")
	srv := newJWKSServer(t, k1)
	clock := &testClock{now: testNow}
	ext, j := jwksIssuer(t, srv, clock)

	for range 50 { // the first token fetches; the next 49 use the cache
		if _, err := ext.VerifyAccess(extToken(t, k1, "k1")); err != nil {
			t.Fatalf("k1 token: %v", err)
		}
	}
	wantFetches(t, srv, j, 1)

	srv.setKeys(t, k2) // rotation: k1 retired
	clock.Add(time.Second)
	if _, err := ext.VerifyAccess(extToken(t, k2, "k2")); err != nil {
		t.Fatalf("a token with the new kid, right after the rotation: %v", err)
	}
	wantFetches(t, srv, j, 2)
	if _, err := ext.VerifyAccess(extToken(t, k1, "k1")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a token of the dropped key = %v; want ErrUnknownKey", err)
	}
	// That unknown kid came within the refetch interval: no third fetch.
	wantFetches(t, srv, j, 2)
}

// A flood of tokens naming random kids, from many goroutines, costs the
// issuer at most one fetch per refetch interval.
func TestJWKSUnknownKIDFlood(t *testing.T) {
	t.Parallel()
	k1 := newEd25519Key(t, "k1")
	srv := newJWKSServer(t, k1)
	clock := &testClock{now: testNow}
	ext, j := jwksIssuer(t, srv, clock)
	if err := j.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 20 {
					_, err := ext.VerifyAccess(extToken(t, k1, fmt.Sprintf("random-%d-%d-%d", g, i, clock.Now().Unix())))
					if !errors.Is(err, ErrUnknownKey) {
						t.Errorf("random kid: %v; want ErrUnknownKey", err)
					}
				}
			})
		}
		wg.Wait()
	}
	flood()
	wantFetches(t, srv, j, 2) // Refresh, then one refetch for 640 unknown kids
	clock.Add(DefaultJWKSRefetchInterval - time.Millisecond)
	flood()
	wantFetches(t, srv, j, 2)
	clock.Add(time.Millisecond)
	flood()
	wantFetches(t, srv, j, 3)
	if _, err := ext.VerifyAccess(extToken(t, k1, "k1")); err != nil {
		t.Errorf("the real key after the flood: %v", err)
	}
}

// Cache-Control max-age sets when the set is refreshed, within bounds; a
// refresh never makes a token with a known kid wait, and a token with a
// known kid never fetches while the set is fresh.
func TestJWKSCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cc    string
		fresh time.Duration // still fresh just before this
	}{
		{"", DefaultJWKSRefresh},
		{"public, max-age=120", 120 * time.Second},
		{"max-age=1", MinJWKSRefresh},
		{"max-age=31536000", MaxJWKSRefresh},
		{"no-store", MinJWKSRefresh},
		{"max-age=junk", DefaultJWKSRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			t.Parallel()
			k1 := newEd25519Key(t, "k1")
			srv := newJWKSServer(t, k1)
			srv.cc = tt.cc
			clock := &testClock{now: testNow}
			ext, j := jwksIssuer(t, srv, clock)
			tok := extToken(t, k1, "k1")
			if _, err := ext.VerifyAccess(tok); err != nil {
				t.Fatal(err)
			}
			clock.Add(tt.fresh - time.Second)
			for range 10 {
				if _, err := ext.VerifyAccess(tok); err != nil {
					t.Fatal(err)
				}
			}
			wantFetches(t, srv, j, 1)
			clock.Add(time.Second)
			if _, err := ext.VerifyAccess(tok); err != nil { // stale: served, refreshed behind
				t.Fatal(err)
			}
			if err := j.Refresh(t.Context()); err != nil { // joins the background fetch
				t.Fatal(err)
			}
			if got := j.Fetches(); got < 2 || got > 3 {
				t.Errorf("after the set went stale, %d fetches; want the background refresh", got)
			}
		})
	}
}

// While the endpoint fails, the last good keys keep serving, retries are
// rate-limited, and a recovered endpoint is picked up.
func TestJWKSEndpointFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"down (500)", 500, "internal error"},
		{"not found", 404, ""},
		{"malformed", 200, `{"keys":[{"kty":"OKP"`},
		{"HTML", 200, `<html>login</html>`},
		{"oversized", 200, `{"keys":[],"pad":"` + strings.Repeat("a", MaxJWKSBytes) + `"}`},
		{"a private key", 200, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kid":"k1"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k1 := newEd25519Key(t, "k1")
			srv := newJWKSServer(t, k1)
			clock := &testClock{now: testNow}
			ext, j := jwksIssuer(t, srv, clock)
			tok := extToken(t, k1, "k1")
			if _, err := ext.VerifyAccess(tok); err != nil {
				t.Fatal(err)
			}
			srv.set(tt.status, tt.body)
			clock.Add(DefaultJWKSRefresh) // stale
			for range 20 {
				if _, err := ext.VerifyAccess(tok); err != nil {
					t.Fatalf("a known kid while the endpoint fails: %v", err)
				}
			}
			if err := j.Refresh(t.Context()); err == nil {
				t.Fatal("Refresh against a failing endpoint = nil")
			}
			if _, err := ext.VerifyAccess(tok); err != nil {
				t.Fatalf("a known kid after a failed refresh: %v", err)
			}
			before := j.Fetches()
			for range 20 { // stale, but the last attempt failed a moment ago
				ext.VerifyAccess(tok)
				ext.VerifyAccess(extToken(t, k1, "other"))
			}
			if got := j.Fetches(); got > before+1 {
				t.Errorf("20 requests after a failure made %d fetches; want at most 1", got-before)
			}
			k2 := newEd25519Key(t, "k2")
			srv.setKeys(t, k2)
			clock.Add(DefaultJWKSRefetchInterval)
			if _, err := ext.VerifyAccess(extToken(t, k2, "k2")); err != nil {
				t.Errorf("the recovered endpoint's new key: %v", err)
			}
		})
	}
}

// A slow endpoint: the request that waits for an unknown-kid refetch waits
// at most the fetch timeout, and the known keys keep serving meanwhile.
func TestJWKSSlowEndpoint(t *testing.T) {
	t.Parallel()
	k1 := newEd25519Key(t, "k1")
	srv := newJWKSServer(t, k1)
	clock := &testClock{now: testNow}
	ext, j := jwksIssuer(t, srv, clock, WithFetchTimeout(200*time.Millisecond))
	if err := j.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	defer close(block)
	srv.mu.Lock()
	srv.block = block
	srv.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		_, err := ext.VerifyAccess(extToken(t, k1, "new-kid"))
		done <- err
	}()
	for j.Fetches() < 2 { // the refetch has started and hangs
		time.Sleep(time.Millisecond)
	}
	if _, err := ext.VerifyAccess(extToken(t, k1, "k1")); err != nil {
		t.Errorf("a known kid during a hung fetch: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrUnknownKey) { // returns after the timeout, not when the server answers
		t.Errorf("unknown kid against a hung endpoint = %v; want ErrUnknownKey", err)
	}
	if err := j.Refresh(context.Background()); err == nil {
		t.Error("Refresh against a hung endpoint = nil; want the timeout")
	}
}

func TestNewJWKSURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://app.example/api/auth/jwks", "http://127.0.0.1:3000/api/auth/jwks", "http://localhost/jwks", "http://[::1]:8080/jwks"} {
		if _, err := NewJWKS(u); err != nil {
			t.Errorf("NewJWKS(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"http://app.example/jwks", "ftp://app.example/jwks", "/api/auth/jwks", "https://user:pw@app.example/jwks", "https:///jwks", "file:///etc/passwd", ""} {
		if _, err := NewJWKS(u); err == nil {
			t.Errorf("NewJWKS(%q) accepted it", u)
		}
	}
	if _, err := NewJWKS("http://app.example/jwks", WithInsecureHTTP()); err != nil {
		t.Errorf("NewJWKS(http, WithInsecureHTTP) = %v", err)
	}
	for _, opt := range []JWKSOption{WithFetchTimeout(time.Millisecond), WithFetchTimeout(time.Minute), WithRefetchInterval(time.Millisecond), WithRefetchInterval(time.Hour), WithJWKSClock(nil), WithRSAAlgorithm("none")} {
		if _, err := NewJWKS("https://app.example/jwks", opt); err == nil {
			t.Error("NewJWKS took an option out of bounds")
		}
	}
}

// A JWKS serves only public keys: it cannot join HMAC keys.
func TestJWKSWithHMAC(t *testing.T) {
	t.Parallel()
	j, err := ParseJWKS([]byte(`{"keys":[` + string(jwkJSONOf(t, jwkOf(t, testKeys(t)["EdDSA"]))) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewExternalIssuer(testKeys(t)["HS256"], nil, WithJWKS(j)); err == nil {
		t.Error("an HMAC key and a JWKS in one verifier")
	}
	if _, err := NewExternalIssuer(Key{}, nil, WithJWKS(nil)); err == nil {
		t.Error("WithJWKS(nil) accepted")
	}
	if _, err := NewExternalIssuer(Key{}, nil); err == nil {
		t.Error("an ExternalIssuer with no key and no JWKS")
	}
}

// BenchmarkExternalIssuer compares a key from a JWKS with the same key
// configured directly: the JWKS lookup costs a map read and an atomic load,
// and no fetch while the set is fresh.
func BenchmarkExternalIssuer(b *testing.B) {
	k1 := newEd25519Key(b, "k1")
	tok := forge(b, k1, AccessToken, `{"alg":"EdDSA","kid":"k1"}`, `{"sub":"u1","exp":1700000900,"iss":"https://app.example","aud":"https://app.example"}`)
	doc := `{"keys":[` + string(jwkJSONOf(b, jwkOf(b, k1))) + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(doc)) }))
	defer srv.Close()
	j, err := NewJWKS(srv.URL, WithJWKSClock(fixedClock))
	if err != nil {
		b.Fatal(err)
	}
	pub, err := ParseJWK(jwkJSONOf(b, jwkOf(b, k1)))
	if err != nil {
		b.Fatal(err)
	}
	opts := []TokenOption{WithClock(fixedClock), WithIssuer("https://app.example"), WithAudience("https://app.example")}
	static, err := NewExternalIssuer(pub, nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	fetched, err := NewExternalIssuer(Key{}, nil, append(opts, WithJWKS(j))...)
	if err != nil {
		b.Fatal(err)
	}
	for name, ext := range map[string]*ExternalIssuer{"static": static, "jwks": fetched} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ext.VerifyAccess(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if got := j.Fetches(); got != 1 {
		b.Errorf("%d fetches; want 1", got)
	}
}
