package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// referenceDecode is what decodeClaimsJSON must agree with: encoding/json
// into Claims, after refusing NumericDates that are not JSON numbers.
func referenceDecode(b []byte, c *Claims) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for _, t := range [...]json.RawMessage{times.Exp, times.Nbf, times.Iat} {
		if len(t) > 0 && t[0] != '-' && (t[0] < '0' || t[0] > '9') && string(t) != "null" {
			return errors.New("date not a number")
		}
	}
	return json.Unmarshal(b, c)
}

var claimsSeeds = []string{
	goodClaims,
	`{}`, ` { } `, `{"sub":"a","sub":"b"}`, `{"SUB":"x","Sub":"y"}`, `{"ſub":"long s"}`, `{"ſub":"x"}`,
	`{"aud":null}`, `{"aud":[]}`, `{"aud":[null]}`, `{"aud":["a",1]}`, `{"aud":"x","aud":null}`, `{"aud":""}`,
	`{"roles":null}`, `{"roles":[]}`, `{"roles":[null,"a"]}`, `{"roles":"admin"}`, `{"roles":["a"],"roles":["b","c"]}`,
	`{"exp":1.5}`, `{"exp":1e300}`, `{"exp":-1}`, `{"exp":"1"}`, `{"exp":null}`, `{"exp":1E400}`, `{"exp":01}`, `{"exp":-}`,
	`{"exp":12345678901234567890}`, `{"ver":1.0}`, `{"ver":-0}`, `{"ver":99999999999999999999}`, `{"ver":null}`, `{"ver":"3"}`,
	`{"type":"access","Type":"refresh"}`, `{"type":null}`, `{"email":"a\u0000b"}`, `{"name":"\ud83d\ude00"}`, `{"name":"\ud83d"}`,
	`{"name":"\ud83d\u0041"}`, `{"name":"\udc00"}`, `{"name":"\ud83dx"}`, `{"name":"\q"}`, `{"name":"a` + "\t" + `b"}`,
	`{"x":{"y":[1,{"z":null}],"w":true},"sub":"s"}`, `{"x":[[[[]]]]}`, `{"sub":"a",}`, `{"sub" "a"}`, `{"sub":"a"} x`,
	`{"\u0073ub":"escaped key"}`, `{"x":tru}`, `{"x":nul}`, `{"x":-0.0e-0}`, `{"x":.5}`, `{"x":5.}`, `{"x":1e}`,
	`{"iss":"é","jti":"🔑","fam":"f"}`, "{\"sub\":\"a\"}\n", `{"nbf":1,"iat":2,"exp":3}`, `{"NBF":"1"}`,
}

// decodeClaimsJSON answers as encoding/json does, for any input.
func FuzzClaimsJSON(f *testing.F) {
	for _, s := range claimsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		if !utf8.Valid(b) {
			return // refused before decoding (decodeSegment)
		}
		if trimmed := bytes.TrimLeft(b, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
			return // likewise
		}
		var got, want Claims
		gotErr, wantErr := decodeClaimsJSON(b, &got), referenceDecode(b, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: decodeClaimsJSON error %v, encoding/json error %v", s, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeClaimsJSON = %#v\nencoding/json = %#v", s, got, want)
		}
	})
}

func TestClaimsJSONSeeds(t *testing.T) {
	t.Parallel()
	for _, s := range claimsSeeds {
		var got, want Claims
		gotErr, wantErr := decodeClaimsJSON([]byte(s), &got), referenceDecode([]byte(s), &want)
		if (gotErr == nil) != (wantErr == nil) || gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v, %v; encoding/json %#v, %v", s, got, gotErr, want, wantErr)
		}
	}
}

// referenceVerify is Tokens.Verify's rules built on golang-jwt's Parser:
// what the fast path must agree with.
func referenceVerify(t *Tokens, token string, want TokenType) (*Claims, bool) {
	if len(token) > t.maxSize || strings.Count(token, ".") != 2 {
		return nil, false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c != '.' && !isBase64URLByte(c) {
			return nil, false
		}
	}
	parts := strings.Split(token, ".")
	if parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, false
	}
	for _, p := range parts[:2] {
		b, err := b64.DecodeString(p)
		if err != nil || !utf8.Valid(b) {
			return nil, false
		}
		if tr := bytes.TrimLeft(b, " \t\r\n"); len(tr) == 0 || tr[0] != '{' {
			return nil, false
		}
	}
	payload, _ := b64.DecodeString(parts[1])
	if err := referenceDecode(payload, &Claims{}); err != nil {
		return nil, false
	}
	opts := []jwt.ParserOption{jwt.WithStrictDecoding(), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(t.leeway), jwt.WithTimeFunc(t.now)}
	if t.issuer != "" {
		opts = append(opts, jwt.WithIssuer(t.issuer))
	}
	aud := t.audience
	if want == RefreshToken {
		aud = refreshAudience(aud)
	}
	if aud != "" {
		opts = append(opts, jwt.WithAudience(aud))
	}
	c := &Claims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, c, func(tok *jwt.Token) (any, error) {
		for name, v := range tok.Header {
			if _, ok := v.(string); !ok || name != "alg" && name != "typ" && name != "kid" {
				return nil, errors.New("header")
			}
		}
		typ, _ := tok.Header["typ"].(string)
		kid, _ := tok.Header["kid"].(string)
		key, ok := t.keys[kid]
		if !typMatches(typ, want.header()) || !ok || tok.Method.Alg() != key.method.Alg() {
			return nil, errors.New("typ, kid or alg")
		}
		if want == RefreshToken {
			return key.refreshVerify, nil
		}
		return key.verify, nil
	})
	if err != nil || c.Type != want || c.Subject == "" || c.ID == "" || c.IssuedAt == nil {
		return nil, false
	}
	return c, true
}

// Verify and golang-jwt's Parser with the same rules agree on every token:
// the fuzzer writes the header and claims, which are signed with the real
// key (so the signature is no obstacle), or a whole raw token.
func FuzzVerifyDifferential(f *testing.F) {
	key := testKeys(f)["HS256"]
	tk := newTokens(f, key)
	for _, c := range claimsSeeds {
		f.Add(goodHeader, c, false)
	}
	for _, h := range []string{goodHeader, headerWith("at+jwt", "refresh+jwt"), `{"alg":"HS256","typ":"at+jwt","kid":"hs","x":1}`,
		`{"alg":"HS256","typ":"AT+JWT","kid":"hs"}`, `{"kid":"hs","typ":"at+jwt","alg":"HS256"}`, `{"alg":"HS384","typ":"at+jwt","kid":"hs"}`,
		`{"alg":"HS256","typ":"at+jwt"}`, `{"alg":"HS256","typ":"at+jwt","kid":"hs","kid":"x"}`, `{"alg":"none"}`} {
		f.Add(h, goodClaims, false)
		f.Add(h, claimsWith(`"https://api.example","type":"access"`, `"https://api.example#refresh","type":"refresh"`), false)
	}
	f.Add("", forge(f, key, AccessToken, goodHeader, goodClaims), true)
	f.Fuzz(func(t *testing.T, header, claims string, raw bool) {
		token := claims
		if !raw {
			token = forge(t, key, AccessToken, header, claims)
			if strings.Contains(header, "refresh") {
				token = forge(t, key, RefreshToken, header, claims)
			}
		}
		for _, want := range []TokenType{AccessToken, RefreshToken} {
			got, gotErr := tk.Verify(token, want)
			ref, ok := referenceVerify(tk, token, want)
			if (gotErr == nil) != ok {
				t.Fatalf("%s %q: Verify error %v; reference accepts: %v", want, token, gotErr, ok)
			}
			if ok && !reflect.DeepEqual(got, ref) {
				t.Fatalf("%s %q: claims differ:\n%#v\n%#v", want, token, got, ref)
			}
		}
	})
}

// The known-header fast path and the decoding path answer alike.
func TestKnownHeaders(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	rotated, _ := NewHMACKey("k2", "HS512", make([]byte, 64))
	tk := newTokens(t, keys["HS256"], WithVerificationKeys(rotated))
	if len(tk.headers) != 4 {
		t.Errorf("%d known headers; want 2 keys × 2 kinds", len(tk.headers))
	}
	tok, _, _ := tk.Issue(AccessToken, testClaims)
	h, _, _ := splitToken(tok)
	if _, ok := tk.headers[h]; !ok {
		t.Fatalf("the header of an issued token %q is not known", h)
	}
	// The same header spelled differently takes the decoding path.
	other := forge(t, keys["HS256"], AccessToken, `{"kid":"hs","typ":"at+jwt","alg":"HS256"}`, claimsWith(`"j1"`, `"j2"`))
	if _, ok := tk.headers[strings.SplitN(other, ".", 2)[0]]; ok {
		t.Fatal("a re-ordered header is known")
	}
	for _, tok := range []string{tok, other} {
		if _, err := tk.Verify(tok, AccessToken); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if _, err := tk.Verify(tok, RefreshToken); !errors.Is(err, ErrTokenType) {
			t.Errorf("Verify as refresh: %v", err)
		}
	}
	if !slices.ContainsFunc(slices.Collect(mapValues(tk.headers)), func(k knownHeader) bool { return k.kid == "k2" && k.typ == "refresh+jwt" }) {
		t.Error("the verification key's refresh header is not known")
	}
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}
