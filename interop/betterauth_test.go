// Package interop runs this library against real peers: a Better Auth
// server (betterauth/server.mjs, pinned by betterauth/package-lock.json)
// whose tokens and JWKS the Go side verifies, and jose, which verifies the
// tokens and JWKS the Go side publishes. .ci/interop installs the node
// modules (npm ci) and runs it.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keygate/auth"
)

func jwtSubject(sub string) jwt.RegisteredClaims { return jwt.RegisteredClaims{Subject: sub} }

// betterAuth is a running server.mjs.
type betterAuth struct {
	base string // http://127.0.0.1:PORT, Better Auth's baseURL: its iss and aud
}

// startBetterAuth starts server.mjs with the given key algorithm and stops
// it when the test ends. Without node_modules it fails under CI=true and
// skips otherwise.
func startBetterAuth(t *testing.T, alg string) *betterAuth {
	t.Helper()
	dir, err := filepath.Abs("betterauth")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "better-auth")); err != nil || statErr != nil {
		msg := "node or interop/betterauth/node_modules is missing: run .ci/interop (npm ci) first"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprint("PORT=", port), "ALG="+alg)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening ") {
				ready <- true
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("server.mjs exited: %s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("server.mjs did not start in 30 s: %s", stderr.String())
	}
	return &betterAuth{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// call sends a JSON request and decodes a JSON answer into out.
func call(t *testing.T, client *http.Client, method, url string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s %s = %d %s", method, url, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
}

type user struct {
	id     string
	client *http.Client // holds the session cookie
}

// signUp registers a user with email and password, as a browser would.
func (ba *betterAuth) signUp(t *testing.T, name string) user {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	var out struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	call(t, client, "POST", ba.base+"/api/auth/sign-up/email", map[string]string{
		"email": name + "@example.com", "password": "correct horse battery staple", "name": name}, &out)
	if out.User.ID == "" {
		t.Fatal("sign-up returned no user ID")
	}
	return user{id: out.User.ID, client: client}
}

// jwt returns a JWT from the jwt plugin's /token endpoint.
func (ba *betterAuth) jwt(t *testing.T, u user) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	call(t, u.client, "GET", ba.base+"/api/auth/token", nil, &out)
	return out.Token
}

// header decodes a token's header.
func header(t *testing.T, token string) map[string]string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, srv *httptest.Server, path, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// The Go side verifies Better Auth's tokens through its JWKS: EdDSA (the
// plugin's default), ES256, ES512, RS256 and PS256; tokens from the /token
// endpoint and from the set-auth-jwt header of get-session; the owner guard
// on /api/{user_id}/tasks, the admin plugin's "role" (a comma-separated
// list included), extra claims, and a key rotation picked up on the next
// unknown kid with exactly one fetch.
func TestBetterAuthTokens(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256", "ES512", "RS256", "PS256"} {
		t.Run(alg, func(t *testing.T) {
			ba := startBetterAuth(t, alg)
			ada, bob := ba.signUp(t, "ada"), ba.signUp(t, "bob")
			adaJWT, bobJWT := ba.jwt(t, ada), ba.jwt(t, bob)
			if h := header(t, adaJWT); h["alg"] != alg || h["kid"] == "" || h["typ"] != "" {
				t.Fatalf("Better Auth's header = %v; want alg %s, a kid and no typ", h, alg)
			}

			jwks, err := auth.NewJWKS(ba.base+"/api/auth/jwks", auth.WithJWKSLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			if err := jwks.Refresh(t.Context()); err != nil {
				t.Fatalf("fetching Better Auth's JWKS: %v", err)
			}
			ext, err := auth.NewExternalIssuer(auth.Key{}, []string{"email"}, auth.WithJWKS(jwks),
				auth.WithIssuer(ba.base), auth.WithAudience(ba.base), auth.WithRolesClaim("role"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := auth.NewStateless(ext, auth.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
			mux.Handle("GET /api/{user_id}/tasks", a.Middleware(auth.RequireOwner("user_id")(ok)))
			mux.Handle("GET /user-area", a.Middleware(auth.RequireRole("user")(ok)))
			mux.Handle("GET /admin", a.Middleware(auth.RequireRole("admin")(ok)))
			srv := httptest.NewServer(mux)
			defer srv.Close()

			for _, tt := range []struct {
				name, path, token string
				want              int
			}{
				{"ada's tasks", "/api/" + ada.id + "/tasks", adaJWT, 200},
				{"bob's tasks with ada's token", "/api/" + bob.id + "/tasks", adaJWT, 403},
				{"bob's tasks", "/api/" + bob.id + "/tasks", bobJWT, 200},
				{"role user", "/user-area", adaJWT, 200},
				{"role admin", "/admin", adaJWT, 403},
				{"no token's worth of signature", "/api/" + ada.id + "/tasks", adaJWT[:strings.LastIndex(adaJWT, ".")+1] + "AAAA", 401},
			} {
				if got := get(t, srv, tt.path, tt.token); got != tt.want {
					t.Errorf("%s: %d; want %d", tt.name, got, tt.want)
				}
			}
			c, err := ext.VerifyAccess(adaJWT)
			if err != nil {
				t.Fatal(err)
			}
			var extra struct {
				EmailVerified *bool  `json:"emailVerified"`
				ID            string `json:"id"`
			}
			if err := c.Decode(&extra); err != nil || extra.EmailVerified == nil || extra.ID != ada.id || c.Email != "ada@example.com" {
				t.Errorf("claims = %+v, extra %+v, %v", c, extra, err)
			}
			// The README's old mistake: aud = the API's URL refuses every token, and says why.
			wrongAud, err := auth.NewExternalIssuer(auth.Key{}, nil, auth.WithJWKS(jwks), auth.WithIssuer(ba.base), auth.WithAudience("http://127.0.0.1:1/api"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wrongAud.VerifyAccess(adaJWT); !errors.Is(err, auth.ErrTokenClaims) || !strings.Contains(err.Error(), "aud") {
				t.Errorf("aud = the API's URL: %v; want ErrTokenClaims naming aud", err)
			}

			// The other way Better Auth hands out a JWT: get-session's set-auth-jwt header.
			req, _ := http.NewRequestWithContext(t.Context(), "GET", ba.base+"/api/auth/get-session", nil)
			res, err := ada.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if h := res.Header.Get("set-auth-jwt"); h == "" {
				t.Error("get-session sent no set-auth-jwt header")
			} else if got := get(t, srv, "/api/"+ada.id+"/tasks", h); got != 200 {
				t.Errorf("the set-auth-jwt token: %d; want 200", got)
			}

			// Several roles, as the admin plugin stores them: "user,admin".
			call(t, http.DefaultClient, "POST", ba.base+"/test/set-role", map[string]string{"userId": ada.id, "role": "user,admin"}, nil)
			if got := get(t, srv, "/admin", ba.jwt(t, ada)); got != 200 {
				t.Errorf("role \"user,admin\" on /admin: %d; want 200", got)
			}

			// Rotation: Better Auth mints a new key; its next token names it.
			var rotated struct {
				Kid string `json:"kid"`
			}
			call(t, http.DefaultClient, "POST", ba.base+"/test/rotate", nil, &rotated)
			newJWT := ba.jwt(t, ada)
			if kid := header(t, newJWT)["kid"]; kid != rotated.Kid {
				t.Fatalf("after the rotation the token names kid %q; want %q", kid, rotated.Kid)
			}
			before := jwks.Fetches()
			if got := get(t, srv, "/api/"+ada.id+"/tasks", newJWT); got != 200 {
				t.Errorf("the rotated key's token: %d; want 200 at once", got)
			}
			if got := jwks.Fetches() - before; got != 1 {
				t.Errorf("the rotation cost %d fetches; want 1", got)
			}
			if got := get(t, srv, "/api/"+ada.id+"/tasks", adaJWT); got != 200 {
				t.Errorf("the previous key's token (still published): %d; want 200", got)
			}
		})
	}
}

// jose verifies the tokens this package mints, over the JWKS it publishes
// (Tokens.JWKSHandler), with jwtVerify and createRemoteJWKSet, and refuses
// a refresh token where an access token is expected.
func TestJoseVerifiesOurTokens(t *testing.T) {
	ba := startBetterAuth(t, "EdDSA")
	signers := map[string]func() (crypto.Signer, error){
		"EdDSA": func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err },
		"ES256": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"ES512": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) },
		"PS256": func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		"RS256": func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
	}
	for alg, gen := range signers {
		t.Run(alg, func(t *testing.T) {
			priv, err := gen()
			if err != nil {
				t.Fatal(err)
			}
			key, err := auth.NewSigningKey("k-"+strings.ToLower(alg), alg, priv)
			if err != nil {
				t.Fatal(err)
			}
			const iss, aud = "https://api.example", "https://tasks.example"
			tokens, err := auth.NewTokens(key, auth.WithIssuer(iss), auth.WithAudience(aud))
			if err != nil {
				t.Fatal(err)
			}
			h, err := tokens.JWKSHandler()
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			access, _, err := tokens.Issue(auth.AccessToken, auth.Claims{RegisteredClaims: jwtSubject("user-42"), Roles: []string{"admin"}})
			if err != nil {
				t.Fatal(err)
			}
			refresh, _, err := tokens.Issue(auth.RefreshToken, auth.Claims{RegisteredClaims: jwtSubject("user-42")})
			if err != nil {
				t.Fatal(err)
			}
			type verdict struct {
				OK      bool           `json:"ok"`
				Code    string         `json:"code"`
				Payload map[string]any `json:"payload"`
			}
			verify := func(token string) verdict {
				var v verdict
				call(t, http.DefaultClient, "POST", ba.base+"/test/jose-verify", map[string]string{
					"token": token, "jwksUrl": srv.URL, "issuer": iss, "audience": aud, "typ": "at+jwt"}, &v)
				return v
			}
			if v := verify(access); !v.OK || v.Payload["sub"] != "user-42" || v.Payload["type"] != "access" {
				t.Errorf("jose on our access token: %+v", v)
			}
			if v := verify(refresh); v.OK {
				t.Errorf("jose accepted our refresh token as an at+jwt access token: %+v", v)
			}
			tampered := access[:strings.LastIndex(access, ".")+1] + "AAAA" + access[strings.LastIndex(access, ".")+5:]
			if v := verify(tampered); v.OK {
				t.Errorf("jose accepted a tampered token: %+v", v)
			}
		})
	}
}
