package auth

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
