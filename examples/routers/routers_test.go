package routers

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/auth"
)

// The same table through all three routers, over real HTTP.
func TestRouters(t *testing.T) {
	t.Parallel()
	key, err := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(key)
	if err != nil {
		t.Fatal(err)
	}
	users := auth.NewMemoryUsers()
	users.Put("ada", auth.Account{ID: "u1", Active: true, Roles: []string{"user"}})
	users.Put("root", auth.Account{ID: "u2", Active: true, Roles: []string{"admin"}})
	a, err := auth.New[auth.Account](tokens, users)
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.NewMemoryAPIKeys()
	apiKey, rec, _ := auth.GenerateAPIKey("sk")
	keys.Add(rec)
	token := func(sub string) string {
		c := auth.Claims{}
		c.Subject = sub
		tok, _, err := tokens.Issue(auth.AccessToken, c)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	ada, root := token("u1"), token("u2")

	tests := []struct {
		name, method, path, header, value string
		status                            int
	}{
		{"me", "GET", "/users/me", "Authorization", ada, 200},
		{"me, anonymous", "GET", "/users/me", "", "", 401},
		{"me, bad token", "GET", "/users/me", "Authorization", "Bearer x.y.z", 401},
		{"admin, user", "GET", "/admin/stats", "Authorization", ada, 403},
		{"admin, admin", "GET", "/admin/stats", "Authorization", root, 200},
		{"admin, anonymous", "GET", "/admin/stats", "", "", 401},
		{"delete self", "DELETE", "/users/u1", "Authorization", ada, 200},
		{"delete other", "DELETE", "/users/u2", "Authorization", ada, 403},
		{"delete as admin", "DELETE", "/users/u1", "Authorization", root, 200},
		{"delete, anonymous", "DELETE", "/users/u1", "", "", 401},
		{"API key", "GET", "/external-data", "X-API-Key", apiKey, 200},
		{"no API key", "GET", "/external-data", "", "", 401},
		{"token instead of API key", "GET", "/external-data", "Authorization", root, 401},
	}
	for name, build := range map[string]func(*auth.Authenticator[auth.Account], auth.APIKeyStore) http.Handler{
		"ServeMux": ServeMux, "chi": Chi, "gorilla": Gorilla,
	} {
		srv := httptest.NewServer(build(a, keys))
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%s, %s: status %d; want %d (%s)", name, tt.name, resp.StatusCode, tt.status, body)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s, %s: 401 without a challenge", name, tt.name)
			}
			if tt.name == "me" && strings.TrimSpace(string(body)) != "user u1" {
				t.Errorf("%s: /users/me = %q", name, body)
			}
		}
		srv.Close()
	}
}

// encodeURIComponent escapes s as JavaScript's encodeURIComponent does:
// everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ).
func encodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Issue 9.13: the owner guard and the handler must see the same ID on
// every router. For IDs that need escaping, sent plainly escaped, escaped
// as encodeURIComponent does and double-encoded, by every user: only the
// owner of the once-decoded segment gets 200, and the handler then acts on
// exactly that ID.
func TestOwnerIDEncodings(t *testing.T) {
	t.Parallel()
	key, _ := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	tokens, _ := auth.NewTokens(key)
	ids := []string{"ada@example.test", "ada%40example.test", "a:b", "a+b", "a,b", "a%b", "a b", "a%2540b", "plain"}
	users := auth.NewMemoryUsers()
	bearer := map[string]string{}
	for _, id := range ids {
		users.Put(id, auth.Account{ID: id, Active: true, Roles: []string{"user"}})
		c := auth.Claims{}
		c.Subject = id
		tok, _, err := tokens.Issue(auth.AccessToken, c)
		if err != nil {
			t.Fatal(err)
		}
		bearer[id] = "Bearer " + tok
	}
	a, err := auth.New[auth.Account](tokens, users)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, id := range ids {
		for _, enc := range []string{url.PathEscape(id), encodeURIComponent(id), encodeURIComponent(encodeURIComponent(id))} {
			paths = append(paths, "/users/"+enc)
		}
	}
	for name, h := range map[string]http.Handler{"ServeMux": ServeMux(a, auth.NewMemoryAPIKeys()), "chi": Chi(a, auth.NewMemoryAPIKeys()), "gorilla": Gorilla(a, auth.NewMemoryAPIKeys())} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(h)
			defer srv.Close()
			for _, p := range paths {
				u, err := url.Parse(srv.URL + p)
				if err != nil {
					t.Fatal(err)
				}
				target, _ := url.PathUnescape(strings.TrimPrefix(p, "/users/")) // the ID the path names
				for _, sub := range ids {
					req, _ := http.NewRequest("DELETE", u.String(), nil)
					req.Header.Set("Authorization", bearer[sub])
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					switch {
					case sub == target && (res.StatusCode != 200 || string(body) != "deleted "+sub+"\n"):
						t.Errorf("%s as its owner %q: %d %q; want 200, deleted %s", p, sub, res.StatusCode, body, sub)
					case sub != target && res.StatusCode == 200:
						t.Errorf("%s as %q (not its owner, the path names %q): 200 %q", p, sub, target, body)
					}
				}
			}
		})
	}
}
