package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// issuedHeader is the header Issue writes for the HS256 test key (members
// sorted, as golang-jwt encodes them): tokens with it take the known-header
// path of parseCompact, goodHeader the decoding path.
const issuedHeader = `{"alg":"HS256","kid":"hs","typ":"at+jwt"}`

// edgeVerifiers are the verifiers every edge case goes through: Tokens.Verify
// on both header paths, and an ExternalIssuer with the same key (its own
// header rules, the same decoding).
func edgeVerifiers(t *testing.T) map[string]func(header, claims string) (*Claims, error) {
	t.Helper()
	key := testKeys(t)["HS256"]
	tk := newTokens(t, key)
	ext, err := NewExternalIssuer(key, nil, WithClock(fixedClock),
		WithIssuer("https://issuer.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tk.headers[b64.EncodeToString([]byte(issuedHeader))]; !ok {
		t.Fatalf("%s is not a known header", issuedHeader)
	}
	return map[string]func(header, claims string) (*Claims, error){
		"Verify": func(header, claims string) (*Claims, error) {
			return tk.Verify(forge(t, key, AccessToken, header, claims), AccessToken)
		},
		"ExternalIssuer": func(header, claims string) (*Claims, error) {
			return ext.VerifyAccess(forge(t, key, AccessToken, header, claims))
		},
	}
}

// NumericDates beyond int64 seconds, beyond 2^53, negative or after year
// 9999 are malformed, for each of exp, nbf, iat and auth_time, on every path: none is
// converted to an int64 (which wraps, or saturates, by platform).
func TestNumericDateRange(t *testing.T) {
	t.Parallel()
	refused := []string{
		"9007199254740993",     // 2^53+1: year 285 million
		"9.3e18",               // beyond int64 seconds: wraps to the past
		"1e19",                 // likewise
		"18446744073709551616", // 2^64
		"1e300",                // MinInt64 on amd64, MaxInt64 where conversions saturate
		"-1",
		"-0.5",
		"253402300800", // 10000-01-01T00:00:00Z
		"253402300800.0",
		"2.534023008e11",
	}
	claimsWithDate := func(name, value string) string {
		switch name {
		case "exp":
			return claimsWith("1700000900", value)
		case "iat":
			return claimsWith("1700000000", value)
		case "auth_time":
			return claimsWith(`"sub"`, `"auth_time":`+value+`,"sub"`)
		}
		return claimsWith(`"sub"`, `"nbf":`+value+`,"sub"`)
	}
	for path, verify := range edgeVerifiers(t) {
		for _, header := range []string{goodHeader, issuedHeader} {
			for _, name := range []string{"exp", "nbf", "iat", "auth_time"} {
				for _, v := range refused {
					c, err := verify(header, claimsWithDate(name, v))
					if c != nil || !errors.Is(err, ErrMalformedToken) || !errors.Is(err, errDateRange) {
						t.Errorf("%s, %s, %s %s: %v, %v; want ErrMalformedToken (date out of range)", path, header, name, v, c, err)
					}
				}
				// The last second of year 9999 is a date: the token is
				// well formed, and only the time checks can refuse it.
				c, err := verify(header, claimsWithDate(name, "253402300799"))
				switch {
				case errors.Is(err, ErrMalformedToken):
					t.Errorf("%s, %s, %s 253402300799: %v; want a well-formed token", path, header, name, err)
				case name == "exp" && err != nil:
					t.Errorf("%s, %s, exp 253402300799: %v; want the token accepted", path, header, err)
				case name == "exp" && c.ExpiresAt.Unix() != 253402300799:
					t.Errorf("%s, %s, exp 253402300799: exp = %v", path, header, c.ExpiresAt)
				case name == "auth_time" && (err != nil || c.AuthTime == nil || c.AuthTime.Unix() != 253402300799):
					t.Errorf("%s, %s, auth_time 253402300799: %v, %v; want the token accepted with that auth_time", path, header, c, err)
				case name != "exp" && name != "auth_time" && !errors.Is(err, ErrTokenClaims):
					t.Errorf("%s, %s, %s 253402300799: %v; want ErrTokenClaims (not yet valid)", path, header, name, err)
				}
			}
		}
	}
}

// The scanner decodes the edges of the range exactly, and never builds a
// date from an out-of-range value.
func TestClaimsJSONDateEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want time.Time // zero: refused
	}{
		{"0", `{"exp":0}`, time.Unix(0, 0)},
		{"-0", `{"exp":-0}`, time.Unix(0, 0)},
		{"fraction truncated", `{"exp":1700000000.9}`, time.Unix(1700000000, 0)},
		{"2^53-1", `{"iat":9007199254740991}`, time.Time{}},
		{"last second of 9999", `{"nbf":253402300799}`, time.Unix(253402300799, 0)},
		{"last second of 9999, fraction", `{"nbf":253402300799.5}`, time.Unix(253402300799, 0)},
		{"10000-01-01", `{"nbf":253402300800}`, time.Time{}},
		{"1e400", `{"exp":1e400}`, time.Time{}},
		{"-1e300", `{"exp":-1e300}`, time.Time{}},
	}
	for _, tt := range tests {
		var c Claims
		err := decodeClaimsJSON([]byte(tt.json), &c)
		d := c.ExpiresAt
		if d == nil {
			d = c.NotBefore
		}
		if d == nil {
			d = c.IssuedAt
		}
		if tt.want.IsZero() {
			if err == nil || d != nil {
				t.Errorf("%s: %v, %v; want an error and no date", tt.name, d, err)
			}
			continue
		}
		if err != nil || d == nil || !d.Equal(tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.name, d, err, tt.want)
		}
	}
}

// A member named twice in the header or the claims is malformed, whichever
// comes last: encoding/json (and so golang-jwt) would take the last one.
// Claim names that encoding/json matches case-insensitively onto the same
// field count as the same name.
func TestDuplicateMembers(t *testing.T) {
	t.Parallel()
	insert := func(member string) string { return claimsWith(`"sub"`, member+`,"sub"`) }
	headers := []struct{ name, header string }{
		{"alg none then HS256", `{"alg":"none","typ":"at+jwt","kid":"hs","alg":"HS256"}`},
		{"alg twice, same value", `{"alg":"HS256","typ":"at+jwt","kid":"hs","alg":"HS256"}`},
		{"typ refresh then access", `{"alg":"HS256","typ":"refresh+jwt","kid":"hs","typ":"at+jwt"}`},
		{"kid twice", `{"alg":"HS256","typ":"at+jwt","kid":"other","kid":"hs"}`},
		{"kid escaped", `{"alg":"HS256","typ":"at+jwt","kid":"hs","\u006bid":"hs"}`},
	}
	claims := []struct{ name, claims string }{
		{"sub twice", insert(`"sub":"admin"`)},
		{"sub twice, same value", insert(`"sub":"user-42"`)},
		{"SUB then sub", insert(`"SUB":"admin"`)},
		{"sub then Sub", claimsWith(`"type":"access"`, `"type":"access","Sub":"admin"`)},
		{"sub then ſub (long s folds to s)", claimsWith(`"type":"access"`, `"type":"access","ſub":"admin"`)},
		{"sub escaped", insert(`"\u0073ub":"admin"`)},
		{"exp expired then valid", insert(`"exp":1600000000`)},
		{"exp valid then expired", claimsWith(`"type":"access"`, `"type":"access","exp":1600000000`)},
		{"EXP then exp", insert(`"EXP":1600000000`)},
		{"type refresh then access", insert(`"type":"refresh"`)},
		{"TYPE then type", insert(`"TYPE":"refresh"`)},
		{"aud twice", insert(`"aud":"https://evil.example"`)},
		{"roles twice", insert(`"roles":["admin"],"roles":[]`)},
		{"ver twice", insert(`"ver":1,"ver":2`)},
		{"null then value", insert(`"email":null,"email":"a@example.com"`)},
		{"unknown member twice", insert(`"tenant":1,"tenant":2`)},
		{"unknown member twice, escaped", insert(`"tenant":1,"ten\u0061nt":2`)},
		{"unknown member twice, far apart", insert(manyMembers(40) + `,"m7":"again"`)},
		{"unknown member twice, past the first 8", insert(manyMembers(40) + `,"m30":"again"`)},
	}
	for path, verify := range edgeVerifiers(t) {
		for _, h := range headers {
			if c, err := verify(h.header, goodClaims); c != nil || !errors.Is(err, ErrMalformedToken) || !errors.Is(err, errDuplicateMember) {
				t.Errorf("%s, header %s: %v, %v; want ErrMalformedToken (duplicate member)", path, h.name, c, err)
			}
		}
		for _, header := range []string{goodHeader, issuedHeader} {
			for _, tt := range claims {
				if c, err := verify(header, tt.claims); c != nil || !errors.Is(err, ErrMalformedToken) || !errors.Is(err, errDuplicateMember) {
					t.Errorf("%s, %s, claims %s: %v, %v; want ErrMalformedToken (duplicate member)", path, header, tt.name, c, err)
				}
			}
		}
	}
	// A refresh token whose type is named twice, on the refresh path.
	key := testKeys(t)["HS256"]
	tk := newTokens(t, key)
	refresh := claimsWith(`"https://api.example","type":"access"`, `"https://api.example#refresh","type":"access","type":"refresh"`)
	if c, err := tk.Verify(forge(t, key, RefreshToken, headerWith("at+jwt", "refresh+jwt"), refresh), RefreshToken); c != nil || !errors.Is(err, errDuplicateMember) {
		t.Errorf("refresh token, type access then refresh: %v, %v; want ErrMalformedToken (duplicate member)", c, err)
	}
}

// The duplicate rule's neighbours pass: distinct names, unknown names that
// differ only in case (they fill no field, so no decoder can confuse them),
// and names repeated inside a nested value (not claim names).
func TestDuplicateMembersNeighbours(t *testing.T) {
	t.Parallel()
	insert := func(member string) string { return claimsWith(`"sub"`, member+`,"sub"`) }
	for path, verify := range edgeVerifiers(t) {
		for _, tt := range []struct{ name, claims string }{
			{"unknown names differing in case", insert(`"tenant":1,"Tenant":2`)},
			{"a name repeated in a nested object", insert(`"x":{"a":1,"a":2}`)},
			{"40 distinct unknown members", insert(manyMembers(40))},
			{"every known claim once", insert(`"email":"a@example.com","name":"A","roles":["r"],"ver":1,"fam":"f","nbf":1700000000`)},
		} {
			if _, err := verify(goodHeader, tt.claims); err != nil {
				t.Errorf("%s, %s: %v; want nil", path, tt.name, err)
			}
		}
	}
}

// manyMembers returns n distinct unknown members, "m0":0 to "m<n-1>":0.
func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}

// Through the middleware, a token refused for a date or a duplicate gets the
// same 401 and body as a forged one: no 500, no oracle.
func TestStrictTokensOverHTTP(t *testing.T) {
	t.Parallel()
	key := testKeys(t)["HS256"]
	tk := newTokens(t, key)
	a, err := NewStateless(tk, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	serve := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := serve(forge(t, key, AccessToken, goodHeader, goodClaims)); w.Code != 200 {
		t.Fatalf("the base token: %d %s", w.Code, w.Body)
	}
	good := forge(t, key, AccessToken, goodHeader, goodClaims)
	forged := serve(good[:len(good)-4] + "AAAA")
	for name, tok := range map[string]string{
		"nbf 1e19":            forge(t, key, AccessToken, goodHeader, claimsWith(`"sub"`, `"nbf":1e19,"sub"`)),
		"exp 2^53+1":          forge(t, key, AccessToken, goodHeader, claimsWith("1700000900", "9007199254740993")),
		"alg none then HS256": forge(t, key, AccessToken, `{"alg":"none","typ":"at+jwt","kid":"hs","alg":"HS256"}`, goodClaims),
		"sub twice":           forge(t, key, AccessToken, goodHeader, claimsWith(`"sub"`, `"sub":"admin","sub"`)),
		"SUB then sub":        forge(t, key, AccessToken, issuedHeader, claimsWith(`"sub"`, `"SUB":"admin","sub"`)),
	} {
		w := serve(tok)
		if w.Code != 401 || w.Body.String() != forged.Body.String() ||
			w.Header().Get("WWW-Authenticate") != forged.Header().Get("WWW-Authenticate") {
			t.Errorf("%s: %d %q %q; want %d %q %q as for a forged token", name, w.Code, w.Header().Get("WWW-Authenticate"), w.Body,
				forged.Code, forged.Header().Get("WWW-Authenticate"), forged.Body)
		}
	}
	if forged.Code != 401 {
		t.Errorf("forged: %d; want 401", forged.Code)
	}
}
