package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestECDSADER holds ecdsaDER to encoding/asn1's DER encoding of the same
// two integers (what crypto/ecdsa.SignASN1 writes and VerifyASN1 reads), for
// every field size, with leading zero bytes and high bits, and refuses a
// zero r or s as ecdsa.Verify does.
func TestECDSADER(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for _, size := range []int{32, 48, 66} {
		var cases [][2][]byte
		edge := func(fill func(b []byte)) []byte { b := make([]byte, size); fill(b); return b }
		vals := [][]byte{
			edge(func(b []byte) { b[size-1] = 1 }),                                     // 1
			edge(func(b []byte) { b[size-1] = 0x80 }),                                  // one byte, high bit
			edge(func(b []byte) { b[0] = 0x80 }),                                       // full width, high bit
			edge(func(b []byte) { b[0] = 0x7f }),                                       // full width, no high bit
			edge(func(b []byte) { b[1] = 0xff }),                                       // one leading zero byte
			edge(func(b []byte) { b[0] = 1; b[size-1] = 0xff }),                        // 0x01 top byte
			edge(func(b []byte) { copy(b, bytes.Repeat([]byte{0xff}, size)) }),         // all ones
			edge(func(b []byte) { b[size/2] = 0x80; b[size-1] = 2 }),                   // half width
			edge(func(b []byte) { b[size-2] = 0; b[size-1] = 0x81 }),                   // leading zeros then high bit
			edge(func(b []byte) { b[0] = 0; b[1] = 0; b[2] = 0x80; b[size-1] = 0x80 }), // two zeros, high bit
		}
		for _, a := range vals {
			for _, b := range vals {
				cases = append(cases, [2][]byte{a, b})
			}
		}
		for range 500 {
			a, b := make([]byte, size), make([]byte, size)
			for i := range a {
				a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
			}
			a[0] >>= r.UintN(9) // shorter values now and then
			b[0] >>= r.UintN(9)
			cases = append(cases, [2][]byte{a, b})
		}
		for _, c := range cases {
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(c[0]), new(big.Int).SetBytes(c[1])})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ecdsaDER(nil, c[0], c[1])
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("size %d, r %x, s %x: got %x, %v; want %x", size, c[0], c[1], got, ok, want)
			}
			if len(got) > maxECDSADER {
				t.Fatalf("size %d: %d bytes, over maxECDSADER", size, len(got))
			}
		}
		zero := make([]byte, size)
		if _, ok := ecdsaDER(nil, zero, vals[0]); ok {
			t.Errorf("size %d: zero r encoded", size)
		}
		if _, ok := ecdsaDER(nil, vals[0], zero); ok {
			t.Errorf("size %d: zero s encoded", size)
		}
	}
}

// TestVerifyPublicAgreesWithGolangJWT: for every public-key algorithm
// verifyPublic takes over, on valid signatures and on every kind of bad one,
// it returns exactly the error golang-jwt's SigningMethod.Verify returns.
func TestVerifyPublicAgreesWithGolangJWT(t *testing.T) {
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := readPrivateKey(t, "rsa2048").(*rsa.PrivateKey)
	keys := map[string]crypto.Signer{
		"RS256": rsaKey, "RS384": rsaKey, "RS512": rsaKey,
		"ES256": readPrivateKey(t, "p256"), "ES384": readPrivateKey(t, "p384"), "ES512": p521,
		"EdDSA": readPrivateKey(t, "ed25519"),
	}
	input := []byte(b64.EncodeToString([]byte(goodHeader)) + "." + b64.EncodeToString([]byte(goodClaims)))
	for alg, priv := range keys {
		m := jwt.GetSigningMethod(alg)
		sig, err := m.Sign(string(input), priv)
		if err != nil {
			t.Fatal(err)
		}
		pub := priv.Public()
		flip := func(i int) []byte { s := bytes.Clone(sig); s[i] ^= 1; return s }
		half := len(sig) / 2
		sigs := map[string][]byte{
			"valid":         sig,
			"first bit":     flip(0),
			"last bit":      flip(len(sig) - 1),
			"middle bit":    flip(half),
			"short":         sig[:len(sig)-1],
			"long":          append(bytes.Clone(sig), 0),
			"empty":         nil,
			"zeros":         make([]byte, len(sig)),
			"halves":        append(bytes.Clone(sig[half:]), sig[:half]...),
			"zero r":        append(make([]byte, half), sig[half:]...),
			"zero s":        append(bytes.Clone(sig[:half]), make([]byte, len(sig)-half)...),
			"all ones":      bytes.Repeat([]byte{0xff}, len(sig)),
			"other message": nil,
		}
		for name, s := range sigs {
			in := input
			if name == "other message" {
				s, in = sig, append(bytes.Clone(input), 'x')
			}
			handled, got := verifyPublic(m, pub, in, s, make([]byte, 0, maxECDSADER))
			want := m.Verify(string(in), s, pub)
			if !handled {
				t.Fatalf("%s: not handled", alg)
			}
			if got != want && !(errors.Is(got, want) && errors.Is(want, got)) {
				t.Errorf("%s, %s signature: got %v; golang-jwt says %v", alg, name, got, want)
			}
			if name == "valid" && got != nil {
				t.Errorf("%s: a valid signature refused: %v", alg, got)
			}
		}
	}
	if handled, _ := verifyPublic(jwt.SigningMethodPS256, &rsaKey.PublicKey, input, nil, nil); handled {
		t.Error("PS256 is golang-jwt's, not verifyPublic's")
	}
}

// TestVerifyAllocations: a public-key token costs the allocations of an
// HS256 token (the same claims) plus those of the standard library's own
// signature check, and not one more: no conversion of the signature, the
// digest or the signing input per request. Under the race detector, whose
// sync.Pool drops pooled HMAC states at random, RS256 and ES256 are held to
// EdDSA (whose standard-library check allocates nothing) instead of HS256;
// .ci/perf runs it without.
func TestVerifyAllocations(t *testing.T) {
	keys := testKeys(t)
	verifyAllocs := func(alg string) float64 {
		tk := newTokens(t, keys[alg])
		tok, _, err := tk.Issue(AccessToken, testClaims)
		if err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(20, func() {
			if _, err := tk.Verify(tok, AccessToken); err != nil {
				t.Fatal(err)
			}
		})
	}
	base := verifyAllocs("HS256")
	if raceEnabled {
		base = verifyAllocs("EdDSA")
	}
	input := []byte(b64.EncodeToString([]byte(goodHeader)) + "." + b64.EncodeToString([]byte(goodClaims)))
	digest := sha256.Sum256(input)
	for alg, raw := range map[string]func(pub any, sig []byte) func() bool{
		"RS256": func(pub any, sig []byte) func() bool {
			return func() bool { return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil }
		},
		"ES256": func(pub any, sig []byte) func() bool {
			der, _ := ecdsaDER(nil, sig[:32], sig[32:])
			return func() bool { return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], der) }
		},
		"EdDSA": func(pub any, sig []byte) func() bool {
			return func() bool { return ed25519.Verify(pub.(ed25519.PublicKey), input, sig) }
		},
	} {
		priv := keys[alg].sign.(crypto.Signer)
		sig, err := keys[alg].method.Sign(string(input), priv)
		if err != nil {
			t.Fatal(err)
		}
		check := raw(keys[alg].verify, sig)
		stdlib := testing.AllocsPerRun(20, func() {
			if !check() {
				t.Fatal("signature does not verify")
			}
		})
		if raceEnabled && alg == "EdDSA" {
			if stdlib != 0 {
				t.Errorf("ed25519.Verify allocates %v times", stdlib)
			}
			continue
		}
		if got := verifyAllocs(alg); got != base+stdlib {
			t.Errorf("%s: Verify makes %v allocations; want %v (the baseline's %v + the standard library's check's %v)", alg, got, base+stdlib, base, stdlib)
		}
	}
}

// TestSeenHeadersCostNothing: once a token with another issuer's header
// has verified, the next one with that header costs what a token with a
// header of our own costs, with the same claims.
func TestSeenHeadersCostNothing(t *testing.T) {
	key := testKeys(t)["EdDSA"] // no pooled state: exact counts under -race too
	ext, err := NewExternalIssuer(key, nil, WithClock(fixedClock), WithIssuer("https://issuer.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	claims := claimsWith(`"type":"access"`, `"role":"user","emailVerified":true,"image":null`)
	sign := func(header string) string {
		input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
		sig, err := key.method.Sign(input, key.sign)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64.EncodeToString(sig)
	}
	ownHeader := sign(`{"alg":"EdDSA","kid":"ed","typ":"at+jwt"}`) // as Issue writes it
	foreign := sign(`{"alg":"EdDSA","kid":"ed"}`)                  // as jose (Better Auth) writes it
	allocs := func(tok string) float64 {
		return testing.AllocsPerRun(20, func() {
			if _, err := ext.VerifyAccess(tok); err != nil {
				t.Fatal(err)
			}
		})
	}
	if own, other := allocs(ownHeader), allocs(foreign); other != own {
		t.Errorf("a seen foreign header: %v allocations; a header of our own: %v", other, own)
	}
}

// TestSeenHeadersOnlyVerified: only the header of a token whose signature
// verified is remembered; forged, junk and wrong-algorithm tokens add
// nothing, however many.
func TestSeenHeadersOnlyVerified(t *testing.T) {
	key := testKeys(t)["HS256"]
	ext, err := NewExternalIssuer(key, nil, WithClock(fixedClock), WithIssuer("https://issuer.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	// Distinct headers: the same members, told apart by white space.
	header := func(alg string, i int) string {
		return `{"alg":"` + alg + `","kid":"hs"` + strings.Repeat(" ", i) + `}`
	}
	for i := range 1000 {
		forged := tamper(forge(t, key, AccessToken, header("HS256", i), goodClaims))
		for _, tok := range []string{
			forged,
			forge(t, key, AccessToken, header("HS384", i), goodClaims), // alg is not the key's
			forge(t, key, AccessToken, header("HS256", i), `{"sub":`),  // claims malformed after the signature: the header is remembered
		} {
			ext.VerifyAccess(tok)
		}
	}
	m := ext.t.seen.m.Load()
	if m == nil {
		t.Fatal("no header remembered after 1000 verified signatures")
	}
	if len(*m) > maxSeenHeaders {
		t.Errorf("%d headers remembered; at most %d", len(*m), maxSeenHeaders)
	}
	for seg, h := range *m {
		if h.alg != "HS256" {
			t.Errorf("header %q remembered (%+v) without a verified signature", seg, h)
		}
	}
	// Forged tokens only: nothing.
	ext2, _ := NewExternalIssuer(key, nil, WithClock(fixedClock))
	for i := range 100 {
		forged := tamper(forge(t, key, AccessToken, header("HS256", i), goodClaims))
		if _, err := ext2.VerifyAccess(forged); !errors.Is(err, ErrTokenSignature) {
			t.Fatalf("forged token: %v", err)
		}
	}
	if m := ext2.t.seen.m.Load(); m != nil {
		t.Errorf("%d headers remembered from forged tokens", len(*m))
	}
}

// tamper changes one character in the middle of a token's signature.
func tamper(tok string) string {
	i := len(tok) - 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// TestSeenHeadersSameAnswers: a Tokens that has seen a header answers
// every token with it exactly as one that never saw it: the type, the
// algorithm and the key are checked on the remembered header as on a
// decoded one.
func TestSeenHeadersSameAnswers(t *testing.T) {
	key := testKeys(t)["HS256"]
	headers := []string{
		`{"kid":"hs","typ":"at+jwt","alg":"HS256"}`, `{"alg":"HS256","typ":"AT+JWT","kid":"hs"}`,
		`{"kid":"hs","typ":"refresh+jwt","alg":"HS256"}`, `{"alg":"HS256","typ":"application/at+jwt","kid":"hs"}`,
		`{"alg":"HS256","kid":"hs"}`, `{"alg":"HS256","typ":"JWT","kid":"hs"}`, `{"alg":"HS256","typ":"at+jwt","kid":"other"}`,
	}
	sentinels := []error{ErrMalformedToken, ErrUnknownKey, ErrTokenSignature, ErrTokenType, ErrTokenExpired, ErrTokenClaims}
	same := func(a, b error) bool {
		if (a == nil) != (b == nil) {
			return false
		}
		for _, s := range sentinels {
			if errors.Is(a, s) != errors.Is(b, s) {
				return false
			}
		}
		return true
	}
	var tokens []string
	for _, h := range headers {
		for _, typ := range []TokenType{AccessToken, RefreshToken} {
			c := claimsWith(`"https://api.example","type":"access"`, `"https://api.example#refresh","type":"refresh"`)
			if typ == AccessToken {
				c = goodClaims
			}
			tokens = append(tokens, forge(t, key, typ, h, c))
		}
	}
	warm := newTokens(t, key)
	for _, tok := range tokens { // see every header that verifies
		warm.Verify(tok, AccessToken)
		warm.Verify(tok, RefreshToken)
	}
	if warm.seen.m.Load() == nil {
		t.Fatal("no header remembered")
	}
	for _, tok := range tokens {
		for _, want := range []TokenType{AccessToken, RefreshToken} {
			cold := newTokens(t, key)
			c1, err1 := cold.Verify(tok, want)
			c2, err2 := warm.Verify(tok, want)
			if !same(err1, err2) || (c1 == nil) != (c2 == nil) || c1 != nil && c1.Type != c2.Type {
				t.Errorf("%s as %s: never seen: %v; seen: %v", tok, want, err1, err2)
			}
		}
	}
}

// TestSeenHeadersConcurrent: many goroutines verifying tokens with many
// headers (run with -race) all get the right answer, and the set stays
// bounded.
func TestSeenHeadersConcurrent(t *testing.T) {
	t.Parallel()
	key := testKeys(t)["HS256"]
	tk := newTokens(t, key)
	var tokens []string
	for i := range 3 * maxSeenHeaders {
		tokens = append(tokens, forge(t, key, AccessToken, `{"kid":"hs","alg":"HS256","typ":"at+jwt"`+strings.Repeat(" ", i)+`}`, goodClaims))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tok := tokens[(g*7+i)%len(tokens)]
				if c, err := tk.Verify(tok, AccessToken); err != nil || c.Subject != "user-42" {
					t.Errorf("token %d: %v", (g*7+i)%len(tokens), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if m := tk.seen.m.Load(); m == nil || len(*m) > maxSeenHeaders {
		t.Errorf("seen headers: %v; want 1 to %d", m, maxSeenHeaders)
	}
}

// TestParseNumber holds parseNumber to strconv.ParseFloat on the numbers a
// date can be.
func TestParseNumber(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	nums := []string{"0", "1", "9", "10", "1700000000", "253402300799", "253402300800", "999999999999999",
		"1000000000000000", "9007199254740993", "12345678901234567890", "1.5", "1e3", "-1", "0.0", "1E+2", "-0"}
	for range 2000 {
		nums = append(nums, strconv.FormatUint(r.Uint64()>>r.UintN(64), 10))
	}
	for _, n := range nums {
		got, gotErr := parseNumber([]byte(n))
		want, wantErr := strconv.ParseFloat(n, 64)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("parseNumber(%s) = %v, %v; ParseFloat: %v, %v", n, got, gotErr, want, wantErr)
		}
	}
}

// TestParseCompactSplit holds parseCompact's table-driven scan to the rules
// it had as a loop of range checks: only [A-Za-z0-9_-] and exactly two
// dots, no part empty; on random strings of bytes that matter.
func TestParseCompactSplit(t *testing.T) {
	tk := newTokens(t, testKeys(t)["HS256"])
	reference := func(token string) bool {
		dots := 0
		for i := 0; i < len(token); i++ {
			switch c := token[i]; {
			case c == '.':
				dots++
			case !isBase64URLByte(c):
				return false
			}
		}
		p := strings.Split(token, ".")
		return dots == 2 && p[0] != "" && p[1] != "" && p[2] != ""
	}
	alphabet := []byte("aZ09-_.=+/ \x00\x7f\x80\xff")
	r := mrand.New(mrand.NewPCG(5, 6))
	for range 50000 {
		b := make([]byte, r.IntN(14))
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = alphabet[r.IntN(4)]
			}
		}
		token := string(b)
		j, err := tk.parseCompact(token)
		split := j.dot2 != 0 // set once split, before the header is decoded
		if split != reference(token) {
			t.Fatalf("%q: split %v (%v); want %v", token, split, err, reference(token))
		}
	}
}

// TestClaimIndexFolds holds claimIndex to encoding/json's field matching as
// the plain loop over every name computed it: exact, then case-insensitive
// with Unicode simple folding ("ſub", "K" for "k").
func TestClaimIndexFolds(t *testing.T) {
	reference := func(key string) int {
		for i, n := range claimNames {
			if key == n {
				return i
			}
		}
		for i, n := range claimNames {
			if strings.EqualFold(key, n) {
				return i
			}
		}
		return -1
	}
	keys := []string{"", "x", "emailVerified", "image", "role", "id", "createdAt", "ſub", "SUB", "Sub", "ſ", "iſs", "typE", "K", "nbF", "ROLES", "roleſ", "ver\u212a"}
	for _, n := range claimNames {
		keys = append(keys, n, strings.ToUpper(n), n+"x", n[1:])
	}
	r := mrand.New(mrand.NewPCG(7, 8))
	runes := []rune("subissaudexpnbfiatjtitypemailnamerolesverfamSUBſKk\u212a")
	for range 20000 {
		k := make([]rune, 1+r.IntN(6))
		for i := range k {
			k[i] = runes[r.IntN(len(runes))]
		}
		keys = append(keys, string(k))
	}
	for _, k := range keys {
		if got, want := claimIndex([]byte(k)), reference(k); got != want {
			t.Errorf("claimIndex(%q) = %d; want %d", k, got, want)
		}
	}
}

// TestClaimsSkipNoAlloc: members the verifier does not read (Better Auth's
// "emailVerified", "image", "createdAt", nested objects and arrays) are
// checked and skipped without an allocation.
func TestClaimsSkipNoAlloc(t *testing.T) {
	extra := strings.TrimSuffix(goodClaims, "}") + `,"emailVerified":true,"image":null,"createdAt":"2026-01-02T03:04:05.000Z",` +
		`"org":{"id":"o1","tags":["a","b",{"c":"d"}],"n":-1.5e3},"id":"user-42","updatedAt":"2026-01-02T03:04:05.000Z"}`
	allocs := func(claims string) float64 {
		b := []byte(claims)
		return testing.AllocsPerRun(20, func() {
			var c Claims
			if err := decodeClaimsJSON(b, &c); err != nil {
				t.Fatal(err)
			}
		})
	}
	if plain, more := allocs(goodClaims), allocs(extra); more != plain {
		t.Errorf("claims with unread members: %v allocations; without: %v", more, plain)
	}
}
