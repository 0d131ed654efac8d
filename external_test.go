package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// betterAuthToken mints a token as a frontend auth server sharing the secret
// does: plain golang-jwt, "typ": "JWT", no type claim.
func betterAuthToken(t testing.TB, secret []byte, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The seed case: HS256 with the secret in BETTER_AUTH_SECRET, sub and email
// required, /api/{user_id}/tasks only for that user.
func TestExternalIssuerSeed(t *testing.T) {
	secret := GenerateSecret()
	t.Setenv("BETTER_AUTH_SECRET", secret)
	key, err := HMACKeyFromEnv("BETTER_AUTH_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := NewExternalIssuer(key, []string{"email"}, WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewStateless(ext, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/{user_id}/tasks", a.Middleware(RequireOwner("user_id")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := MustUser[*Claims](r.Context())
		w.Write([]byte(c.Subject + " " + c.Email))
	}))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s := []byte(secret)
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "ba-user-1", "email": "ada@example.com", "name": "Ada",
			"iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims { c := base(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := base(); delete(c, k); return c }
	ours, err := NewTokens(key, WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	ourRefresh, _, _ := ours.Issue(RefreshToken, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "ba-user-1"}, Email: "ada@example.com"})
	ourAccess, _, _ := ours.Issue(AccessToken, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "ba-user-1"}, Email: "ada@example.com"})
	otherSecret := []byte(GenerateSecret())

	tests := []struct {
		name   string
		path   string
		token  string
		status int
	}{
		{"own tasks", "/api/ba-user-1/tasks", betterAuthToken(t, s, base()), 200},
		{"another user's tasks", "/api/ba-user-2/tasks", betterAuthToken(t, s, base()), 403},
		{"no email", "/api/ba-user-1/tasks", betterAuthToken(t, s, without("email")), 401},
		{"no sub", "/api/ba-user-1/tasks", betterAuthToken(t, s, without("sub")), 401},
		{"no exp", "/api/ba-user-1/tasks", betterAuthToken(t, s, without("exp")), 401},
		{"expired", "/api/ba-user-1/tasks", betterAuthToken(t, s, with("exp", testNow.Add(-time.Hour).Unix())), 401},
		{"type refresh", "/api/ba-user-1/tasks", betterAuthToken(t, s, with("type", "refresh")), 401},
		{"another secret", "/api/ba-user-1/tasks", betterAuthToken(t, otherSecret, base()), 401},
		{"our refresh token, same secret", "/api/ba-user-1/tasks", ourRefresh, 401},
		{"our access token, same secret", "/api/ba-user-1/tasks", ourAccess, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, srv, "GET", tt.path, bearer(tt.token), "")
			if res.status != tt.status {
				t.Fatalf("status = %d; want %d (%s)", res.status, tt.status, res.body)
			}
			if tt.status == 200 && res.body != "ba-user-1 ada@example.com" {
				t.Errorf("body = %q", res.body)
			}
		})
	}
}

func TestExternalIssuerRules(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	pub, err := NewVerifyingKey("ed", "EdDSA", keys["EdDSA"].verify)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := NewExternalIssuer(pub, []string{"email", "name"}, WithClock(fixedClock),
		WithIssuer("https://idp.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	signer := keys["EdDSA"]
	mint := func(header, claims string) string { return forge(t, signer, AccessToken, header, claims) }
	const claims = `{"sub":"u1","email":"a@example.com","name":"A","iat":1700000000,"exp":1700000900,"iss":"https://idp.example","aud":"https://api.example"}`
	tests := []struct {
		name, header, claims string
		ok                   bool
	}{
		{"typ JWT", `{"alg":"EdDSA","typ":"JWT","kid":"ed"}`, claims, true},
		{"no typ", `{"alg":"EdDSA","kid":"ed"}`, claims, true},
		{"typ at+jwt", `{"alg":"EdDSA","typ":"at+jwt","kid":"ed"}`, claims, true},
		{"typ refresh+jwt", `{"alg":"EdDSA","typ":"refresh+jwt","kid":"ed"}`, claims, false},
		{"type access", `{"alg":"EdDSA","kid":"ed"}`, claims[:len(claims)-1] + `,"type":"access"}`, true},
		{"type refresh", `{"alg":"EdDSA","kid":"ed"}`, claims[:len(claims)-1] + `,"type":"refresh"}`, false},
		{"no name", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","email":"a@example.com","iat":1700000000,"exp":1700000900,"iss":"https://idp.example","aud":"https://api.example"}`, false},
		{"other issuer", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","email":"a@example.com","name":"A","exp":1700000900,"iss":"https://evil.example","aud":"https://api.example"}`, false},
		{"no audience", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","email":"a@example.com","name":"A","exp":1700000900,"iss":"https://idp.example"}`, false},
		{"HS256 with the public key", `{"alg":"HS256","kid":"ed"}`, claims, false},
		{"crit", `{"alg":"EdDSA","kid":"ed","crit":["x"]}`, claims, false},
	}
	for _, tt := range tests {
		tok := mint(tt.header, tt.claims)
		if tt.name == "HS256 with the public key" {
			tok = forge(t, mustHMAC(t, keys["EdDSA"].verify.(ed25519.PublicKey)), AccessToken, tt.header, tt.claims)
		}
		c, err := ext.VerifyAccess(tok)
		if (err == nil) != tt.ok {
			t.Errorf("%s: VerifyAccess = %v, %v; want ok=%v", tt.name, c, err, tt.ok)
		}
	}
	if _, err := NewExternalIssuer(pub, []string{"password"}); err == nil {
		t.Error("an unknown required claim was accepted")
	}
}

// Roles come from a named claim as an array, a string, or a
// comma-separated string, and RequireRole works on them.
func TestExternalIssuerRolesClaim(t *testing.T) {
	t.Parallel()
	signer := testKeys(t)["EdDSA"]
	role, err := NewExternalIssuer(signer, nil, WithClock(fixedClock), WithRolesClaim("role"))
	if err != nil {
		t.Fatal(err)
	}
	deflt, err := NewExternalIssuer(signer, nil, WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	const head = `{"alg":"EdDSA","kid":"ed"}`
	claims := func(extra string) string { return `{"sub":"u1","exp":1700000900` + extra + `}` }
	tests := []struct {
		name  string
		ext   *ExternalIssuer
		extra string
		want  []string
	}{
		{"role string", role, `,"role":"admin"`, []string{"admin"}},
		{"role comma list", role, `,"role":"admin, user,,"`, []string{"admin", "user"}},
		{"role array", role, `,"role":["admin","user"]`, []string{"admin", "user"}},
		{"role null", role, `,"role":null`, nil},
		{"role absent", role, ``, nil},
		{"roles ignored when role is the claim", role, `,"roles":"admin"`, nil},
		{"Role is another claim", role, `,"Role":"admin"`, nil},
		{"default roles as a string", deflt, `,"roles":"admin,user"`, []string{"admin", "user"}},
		{"default roles as an array", deflt, `,"roles":["admin"]`, []string{"admin"}},
		{"default ignores role", deflt, `,"role":"admin"`, nil},
	}
	for _, tt := range tests {
		c, err := tt.ext.VerifyAccess(forge(t, signer, AccessToken, head, claims(tt.extra)))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if strings.Join(c.Roles, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: roles = %q; want %q", tt.name, c.Roles, tt.want)
		}
	}
	for _, bad := range []string{`,"role":42`, `,"role":{"a":1}`, `,"role":[1]`} {
		if _, err := role.VerifyAccess(forge(t, signer, AccessToken, head, claims(bad))); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("role %s: %v; want ErrMalformedToken", bad, err)
		}
	}

	a, err := NewStateless(role, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	for _, tt := range []struct {
		role   string
		status int
	}{{`"admin"`, 200}, {`"user,admin"`, 200}, {`"user"`, 403}, {`"administrator"`, 403}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/admin", nil)
		req.Header.Set("Authorization", "Bearer "+forge(t, signer, AccessToken, head, claims(`,"role":`+tt.role)))
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("RequireRole(admin) with role %s = %d; want %d", tt.role, rec.Code, tt.status)
		}
	}
	for _, name := range []string{"", "sub", "Email", strings.Repeat("r", 65)} {
		if _, err := NewExternalIssuer(signer, nil, WithRolesClaim(name)); err == nil {
			t.Errorf("WithRolesClaim(%q) accepted", name)
		}
	}
	req, err := NewExternalIssuer(signer, []string{"roles"}, WithClock(fixedClock), WithRolesClaim("role"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := req.VerifyAccess(forge(t, signer, AccessToken, head, claims(``))); !errors.Is(err, ErrTokenClaims) || !strings.Contains(err.Error(), "role missing") {
		t.Errorf("required roles claim absent = %v; want ErrTokenClaims naming role", err)
	}
}

func TestExternalIssuerTypeRules(t *testing.T) {
	t.Parallel()
	signer := testKeys(t)["EdDSA"]
	typeClaim, err := NewExternalIssuer(signer, nil, WithClock(fixedClock), WithRequiredTypeClaim())
	if err != nil {
		t.Fatal(err)
	}
	typ, err := NewExternalIssuer(signer, nil, WithClock(fixedClock), WithRequiredTyp("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	const claims = `{"sub":"u1","exp":1700000900}`
	const typed = `{"sub":"u1","exp":1700000900,"type":"access"}`
	tests := []struct {
		name           string
		ext            *ExternalIssuer
		header, claims string
		ok             bool
	}{
		{"type claim access", typeClaim, `{"alg":"EdDSA","kid":"ed"}`, typed, true},
		{"type claim missing", typeClaim, `{"alg":"EdDSA","kid":"ed"}`, claims, false},
		{"type claim refresh", typeClaim, `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","exp":1700000900,"type":"refresh"}`, false},
		{"typ at+jwt", typ, `{"alg":"EdDSA","kid":"ed","typ":"at+jwt"}`, claims, true},
		{"typ application/AT+JWT", typ, `{"alg":"EdDSA","kid":"ed","typ":"application/AT+JWT"}`, claims, true},
		{"typ missing", typ, `{"alg":"EdDSA","kid":"ed"}`, claims, false},
		{"typ JWT", typ, `{"alg":"EdDSA","kid":"ed","typ":"JWT"}`, claims, false},
	}
	for _, tt := range tests {
		_, err := tt.ext.VerifyAccess(forge(t, signer, AccessToken, tt.header, tt.claims))
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v; want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrTokenType) {
			t.Errorf("%s: %v; want ErrTokenType", tt.name, err)
		}
	}
	if _, err := NewExternalIssuer(signer, nil, WithRequiredTyp("")); err == nil {
		t.Error("WithRequiredTyp(\"\") accepted")
	}
}

// One configured key takes tokens with or without a kid by default; a key
// with the empty ID (HMACKeyFromEnv) takes any kid; WithStrictKeyID restores
// exact matching.
func TestExternalIssuerKeyID(t *testing.T) {
	t.Setenv("BETTER_AUTH_SECRET", GenerateSecret())
	env, err := HMACKeyFromEnv("BETTER_AUTH_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	named := testKeys(t)["EdDSA"] // ID "ed"
	const claims = `{"sub":"u1","exp":1700000900}`
	tests := []struct {
		name   string
		key    Key
		header string
		strict bool
		ok     bool
	}{
		{"env key, no kid", env, `{"alg":"HS256","typ":"JWT"}`, false, true},
		{"env key, a kid", env, `{"alg":"HS256","kid":"2024-05"}`, false, true},
		{"env key, a kid, strict", env, `{"alg":"HS256","kid":"2024-05"}`, true, false},
		{"env key, no kid, strict", env, `{"alg":"HS256"}`, true, true},
		{"named key, its kid", named, `{"alg":"EdDSA","kid":"ed"}`, false, true},
		{"named key, no kid", named, `{"alg":"EdDSA"}`, false, true},
		{"named key, another kid", named, `{"alg":"EdDSA","kid":"other"}`, false, false},
		{"named key, no kid, strict", named, `{"alg":"EdDSA"}`, true, false},
		{"env key, wrong alg", env, `{"alg":"HS384","kid":"x"}`, false, false},
	}
	for _, tt := range tests {
		opts := []TokenOption{WithClock(fixedClock)}
		if tt.strict {
			opts = append(opts, WithStrictKeyID())
		}
		ext, err := NewExternalIssuer(tt.key, nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ext.VerifyAccess(forge(t, tt.key, AccessToken, tt.header, claims))
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
	// With two keys, the kid must name one.
	ext, err := NewExternalIssuer(named, nil, WithClock(fixedClock), WithVerificationKeys(newEd25519Key(t, "ed2")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ext.VerifyAccess(forge(t, named, AccessToken, `{"alg":"EdDSA"}`, claims)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("two keys, no kid = %v; want ErrUnknownKey", err)
	}
}

// Claims the Claims type has no field for are reachable.
func TestExternalIssuerDecode(t *testing.T) {
	t.Parallel()
	signer := testKeys(t)["EdDSA"]
	ext, err := NewExternalIssuer(signer, nil, WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ext.VerifyAccess(forge(t, signer, AccessToken, `{"alg":"EdDSA","kid":"ed"}`,
		`{"sub":"u1","exp":1700000900,"emailVerified":true,"id":"u1","banned":false,"org":{"id":"o1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var own struct {
		EmailVerified bool `json:"emailVerified"`
		Org           struct {
			ID string `json:"id"`
		} `json:"org"`
	}
	if err := c.Decode(&own); err != nil || !own.EmailVerified || own.Org.ID != "o1" {
		t.Errorf("Decode = %+v, %v", own, err)
	}
	raw := c.Raw()
	raw[0] = 'X'
	if c.Raw()[0] != '{' {
		t.Error("Raw returned the claims' own buffer")
	}
	_, issued, _ := newTokens(t, signer).Issue(AccessToken, testClaims)
	if err := issued.Decode(&own); err == nil || issued.Raw() != nil {
		t.Error("Decode on issued claims did not fail")
	}
}

// A rejection says which check failed, and never the claim's value; the
// Better Auth mistake the old README taught (aud = the API's URL) shows as
// "aud is not the configured audience" in the log at the configured level.
func TestExternalIssuerDiagnosis(t *testing.T) {
	t.Parallel()
	signer := testKeys(t)["EdDSA"]
	ext, err := NewExternalIssuer(signer, []string{"email"}, WithClock(fixedClock),
		WithIssuer("https://app.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-claim-value"
	tests := []struct {
		name, header, claims string
		reason               error
		detail               string
	}{
		{"aud is Better Auth's base URL", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","email":"` + secret + `","exp":1700000900,"iss":"https://app.example","aud":"https://app.example"}`, ErrTokenClaims, "aud is not the configured audience"},
		{"iss", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","email":"a@b","exp":1700000900,"iss":"` + secret + `","aud":"https://api.example"}`, ErrTokenClaims, "iss is not the configured issuer"},
		{"no email", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"` + secret + `","exp":1700000900,"iss":"https://app.example","aud":"https://api.example"}`, ErrTokenClaims, "email missing"},
		{"expired", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","email":"a@b","exp":1600000000,"iss":"https://app.example","aud":"https://api.example"}`, ErrTokenExpired, ""},
		{"alg", `{"alg":"ES256","kid":"ed"}`, `{"sub":"u1"}`, ErrTokenSignature, `alg "ES256" is not the key's EdDSA`},
		{"kid", `{"alg":"EdDSA","kid":"rotated-1"}`, `{"sub":"u1"}`, ErrUnknownKey, `kid "rotated-1"`},
		{"refresh typ", `{"alg":"EdDSA","kid":"ed","typ":"refresh+jwt"}`, `{"sub":"u1"}`, ErrTokenType, "typ header"},
		{"type claim", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","type":"refresh"}`, ErrTokenType, "type claim"},
		{"nbf", `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u1","email":"a@b","exp":1700000900,"nbf":1800000000,"iss":"https://app.example","aud":"https://api.example"}`, ErrTokenClaims, "nbf in the future"},
	}
	ext2, err := NewExternalIssuer(signer, []string{"email"}, WithClock(fixedClock), WithVerificationKeys(newEd25519Key(t, "other")),
		WithIssuer("https://app.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		e := ext
		if tt.reason == ErrUnknownKey {
			e = ext2 // two keys: the kid must name one
		}
		_, err := e.VerifyAccess(forge(t, signer, AccessToken, tt.header, tt.claims))
		if !errors.Is(err, tt.reason) || !strings.Contains(err.Error(), tt.detail) {
			t.Errorf("%s: %v; want %v naming %q", tt.name, err, tt.reason, tt.detail)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error %q holds a claim's value", tt.name, err)
		}
	}

	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	quiet, err := NewStateless(ext, WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	loud, err := NewStateless(ext, WithLogger(logger), WithRejectedTokenLevel(slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	tok := forge(t, signer, AccessToken, tests[0].header, tests[0].claims)
	for _, a := range []*Authenticator[*Claims]{quiet, loud} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		a.Middleware(http.NotFoundHandler()).ServeHTTP(rec, req)
		if rec.Code != 401 || strings.Contains(rec.Body.String(), "aud") {
			t.Errorf("response = %d %q; want 401 with the generic body", rec.Code, rec.Body)
		}
	}
	out := logs.String()
	if strings.Count(out, "token_rejected") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "aud is not the configured audience") {
		t.Errorf("logs at Info = %q; want one Warn line naming aud (Debug by default)", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, tok[:20]) {
		t.Errorf("logs hold a claim value or the token: %q", out)
	}
}

// FuzzExternalClaims: the ExternalIssuer's claims decoding (a named roles
// claim, lenient about its shape) never panics, accepts only valid JSON,
// and agrees with the strict decoder on every claim but the roles.
// TestExternalIssuerRolesClaim pins the roles themselves.
func FuzzExternalClaims(f *testing.F) {
	for _, s := range []string{`{"sub":"u1","role":"admin,user"}`, `{"role":["a",null]}`, `{"roles":"x","role":null}`,
		`{"role":"\u0061dmin, ,user"}`, `{"role":1}`, `{"sub":"u1","exp":1700000900,"aud":["a"],"role":"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		var lenient, strict Claims
		err := decodeClaims(b, &lenient, "role")
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("decodeClaims accepted invalid JSON %q", b)
		}
		if decodeClaimsJSON(b, &strict) == nil {
			lenient.Roles, strict.Roles = nil, nil
			if !reflect.DeepEqual(lenient, strict) {
				t.Fatalf("claims other than the roles differ:\n%+v\n%+v", lenient, strict)
			}
		}
	})
}
