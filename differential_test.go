package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Where Verify and decodeClaimsJSON are deliberately stricter than
// encoding/json and golang-jwt, each a token golang-jwt accepts and we
// refuse as ErrMalformedToken. stricterClass names the class of a token (or
// a claims object) from encoding/json's own reading of it; the fuzzers
// allow "we refuse, the reference accepts" for these classes only.
const (
	// A NumericDate in a string ("exp":"1700000900"): RFC 7519 §2 makes it
	// a JSON number; golang-jwt's json.Number takes both.
	classDateNotNumber = "NumericDate not a number"
	// A NumericDate that is not, as a float64, finite, ≥ 0 and below
	// 253402300800 (year 10000): golang-jwt converts it to an int64, which
	// wraps (1e19 is in the past) or, by platform, saturates (1e300 never
	// expires).
	classDateRange = "NumericDate out of range"
	// A header or claims member named twice, or two claim names that
	// encoding/json folds onto one field ("sub", "SUB", "ſub"): golang-jwt
	// lets the last one win (RFC 7519 §4 allows that or a rejection; we
	// reject). Names inside nested values and unknown names that differ
	// only in case are not duplicates.
	classDuplicate = "duplicate member name"
)

// claimFields are the JSON names of the fields of Claims, read from its
// struct tags: what encoding/json matches member names against.
var claimFields = func() []string {
	var names []string
	for _, typ := range []reflect.Type{reflect.TypeFor[jwt.RegisteredClaims](), reflect.TypeFor[Claims]()} {
		for f := range typ.Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}()

// members returns the member names and values of the JSON object b as
// encoding/json's Decoder reads them, or ok false if b is not one object.
func members(b []byte) (names []string, values []json.RawMessage, ok bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, nil, false
		}
		names, values = append(names, tok.(string)), append(values, v)
	}
	if tok, err := d.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, nil, false
	}
	return names, values, true
}

// claimsClass returns the stricter class of a claims object, or "".
func claimsClass(b []byte) string {
	names, values, ok := members(b)
	if !ok {
		return ""
	}
	exact, fields := map[string]bool{}, map[string]bool{}
	for i, name := range names {
		field := ""
		for _, f := range claimFields {
			if strings.EqualFold(name, f) && (field == "" || name == f) {
				field = f
			}
		}
		if exact[name] || field != "" && fields[field] {
			return classDuplicate
		}
		exact[name], fields[field] = true, field != ""
		if field != "exp" && field != "nbf" && field != "iat" && field != "auth_time" || string(values[i]) == "null" {
			continue
		}
		if values[i][0] == '"' {
			return classDateNotNumber
		}
		if f, err := strconv.ParseFloat(string(values[i]), 64); err != nil || !(f >= 0 && f < 253402300800) {
			return classDateRange
		}
	}
	return ""
}

// stricterClass returns the stricter class of a compact token, or "".
func stricterClass(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	if header, err := b64.DecodeString(parts[0]); err == nil {
		names, _, _ := members(header)
		if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
			return classDuplicate
		}
	}
	if claims, err := b64.DecodeString(parts[1]); err == nil {
		return claimsClass(claims)
	}
	return ""
}

// referenceDecode is what decodeClaimsJSON must agree with: encoding/json
// into Claims, after refusing the documented stricter classes.
func referenceDecode(b []byte, c *Claims) error {
	if class := claimsClass(b); class != "" {
		return errors.New(class)
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
	`{"exp":9007199254740993}`, `{"nbf":9.3e18}`, `{"iat":1e19}`, `{"exp":18446744073709551616}`, `{"nbf":-1}`, `{"exp":-0}`,
	`{"exp":253402300799}`, `{"exp":253402300800}`, `{"iat":253402300799.9}`, `{"nbf":1e-400}`, `{"exp":-1e-400}`, `{"exp":-1e400}`,
	`{"sub":"a","ſub":"b"}`, `{"sub":"a","\u0073ub":"b"}`, `{"x":1,"x":2}`, `{"x":1,"X":2}`, `{"x":{"a":1,"a":2}}`,
	`{"auth_time":1700000000}`, `{"auth_time":-1}`, `{"auth_time":"1"}`, `{"auth_time":253402300800}`, `{"auth_time":1,"AUTH_TIME":2}`,
	`{"auth_time":null}`, `{"auth_time":1e400}`, `{"exp":null,"exp":1}`, `{"ver":1,"VER":2}`, `{"m0":0,"m1":0,"m2":0,"m3":0,"m4":0,"m5":0,"m6":0,"m7":0,"m8":0,"m9":0,"m3":1}`,
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
// what the fast path must agree with. It checks the shape (size, alphabet,
// strict base64url, UTF-8 JSON objects) and the header allowlist itself,
// and leaves the claims to golang-jwt: the stricter claims and header rules
// are the classes of stricterClass, which FuzzVerifyDifferential compares
// apart.
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
		`{"alg":"HS256","typ":"at+jwt"}`, `{"alg":"HS256","typ":"at+jwt","kid":"hs","kid":"x"}`, `{"alg":"none"}`,
		`{"alg":"none","typ":"at+jwt","kid":"hs","alg":"HS256"}`, `{"alg":"HS256","typ":"at+jwt","kid":"x","kid":"hs"}`,
		`{"alg":"HS256","kid":"hs","typ":"at+jwt"}`} {
		f.Add(h, goodClaims, false)
		f.Add(h, claimsWith(`"https://api.example","type":"access"`, `"https://api.example#refresh","type":"refresh"`), false)
	}
	for _, c := range stricterSeeds {
		f.Add(goodHeader, c, false)
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
		class := stricterClass(token)
		for _, want := range []TokenType{AccessToken, RefreshToken} {
			got, gotErr := tk.Verify(token, want)
			ref, ok := referenceVerify(tk, token, want)
			switch {
			case gotErr == nil && !ok:
				t.Fatalf("%s %q: Verify accepts what the reference refuses", want, token)
			case gotErr == nil && class != "":
				t.Fatalf("%s %q: Verify accepts a token with a %s", want, token, class)
			case gotErr != nil && ok && class == "":
				t.Fatalf("%s %q: Verify error %v; the reference accepts, and no stricter rule applies", want, token, gotErr)
			case gotErr != nil && ok && !errors.Is(gotErr, ErrMalformedToken):
				t.Fatalf("%s %q: Verify error %v for a %s; want ErrMalformedToken", want, token, gotErr, class)
			case gotErr == nil && !reflect.DeepEqual(got, ref):
				t.Fatalf("%s %q: claims differ:\n%#v\n%#v", want, token, got, ref)
			}
		}
	})
}

// stricterSeeds are valid claims but for one stricter rule each.
var stricterSeeds = []string{
	claimsWith(`"sub"`, `"nbf":1e19,"sub"`),
	claimsWith(`"sub"`, `"nbf":9.3e18,"sub"`),
	claimsWith("1700000900", "9007199254740993"),
	claimsWith("1700000900", "253402300800"),
	claimsWith("1700000000", "-1"),
	claimsWith("1700000900", `"1700000900"`),
	claimsWith(`"sub"`, `"sub":"admin","sub"`),
	claimsWith(`"sub"`, `"SUB":"admin","sub"`),
	claimsWith(`"sub"`, `"exp":1600000000,"sub"`),
	claimsWith(`"sub"`, `"type":"refresh","sub"`),
	claimsWith(`"sub"`, `"x":1,"x":2,"sub"`),
}

// Each stricter class is real: golang-jwt (the reference) accepts the token
// and Verify refuses it as malformed. If golang-jwt ever refuses one of
// these, the class can leave the list.
func TestStricterClasses(t *testing.T) {
	t.Parallel()
	key := testKeys(t)["HS256"]
	tk := newTokens(t, key)
	tokens := map[string]string{
		forge(t, key, AccessToken, `{"alg":"none","typ":"at+jwt","kid":"hs","alg":"HS256"}`, goodClaims): classDuplicate,
	}
	for _, c := range stricterSeeds {
		tokens[forge(t, key, AccessToken, goodHeader, c)] = ""
	}
	for tok, want := range tokens {
		class := stricterClass(tok)
		if class == "" || want != "" && class != want {
			t.Errorf("%q: class %q; want %q", tok, class, want)
		}
		if _, ok := referenceVerify(tk, tok, AccessToken); !ok {
			t.Errorf("%q (%s): golang-jwt refuses it", tok, class)
		}
		if _, err := tk.Verify(tok, AccessToken); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%q (%s): Verify = %v; want ErrMalformedToken", tok, class, err)
		}
	}
}

// The known-header fast path and the decoding path answer alike.
func TestKnownHeaders(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	rotated, err := NewHMACKey("k2", "HS512", []byte(GenerateSecret()+GenerateSecret()))
	if err != nil {
		t.Fatal(err)
	}
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
