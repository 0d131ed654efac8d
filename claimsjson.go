package auth

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// decodeClaimsJSON decodes a claims object into c as encoding/json decodes
// it into a Claims (the names of known members matched as it matches them,
// case-insensitively; null leaving strings as they are and clearing pointers
// and slices), but in one pass and without reflection: it is the hot path of
// every request. Three rules are stricter, and documented as such in
// FuzzClaimsJSON and FuzzVerifyDifferential:
//   - a NumericDate ("exp", "nbf", "iat", "auth_time") must be a JSON number (RFC 7519
//     §2), where golang-jwt also takes a number in a string;
//   - its value, as a float64, must be finite, ≥ 0 and before year 10000
//     ([maxNumericDate]): errDateRange. No out-of-range float is ever
//     converted to an integer, so every platform gives the same answer;
//   - a member name may appear once (RFC 7519 §4): a repeated name, or two
//     names that fold onto the same field, is errDuplicateMember, where
//     encoding/json lets the last one win.
//
// FuzzClaimsJSON holds it to encoding/json's answers and these rules.
func decodeClaimsJSON(b []byte, c *Claims) error { return decodeClaims(b, c, "") }

// decodeClaims is decodeClaimsJSON, except that when roles is not empty the
// member named exactly roles fills c.Roles from an array of strings, a
// string, or a comma-separated string ([WithRolesClaim]), and "roles" is
// not otherwise special. Duplicates are refused all the same.
func decodeClaims(b []byte, c *Claims, roles string) error {
	s := scanner{b: b, roles: roles}
	var seen memberSet
	err := s.object(func(key []byte) error {
		i := claimIndex(key)
		if err := seen.add(i, key); err != nil {
			return err
		}
		if s.roles != "" && string(key) == s.roles {
			return s.lenientRolesField(&c.Roles)
		}
		return s.member(i, c)
	})
	if err != nil {
		return err
	}
	return s.end()
}

var (
	errJSON            = errors.New("auth: malformed JSON")
	errDuplicateMember = errors.New("auth: duplicate member name")
	errDateRange       = errors.New("auth: NumericDate out of range")
)

// maxNumericDate is 10000-01-01T00:00:00Z in seconds since the epoch: a
// NumericDate must be below it. Past it, dates no longer fit RFC 3339, and
// float64 seconds near 2^53 or int64 seconds near 2^63 no longer mean one
// instant.
const maxNumericDate = 253402300800

// claimNames are the members decodeClaimsJSON knows, by index.
var claimNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "type", "email", "name", "roles", "ver", "fam", "auth_time"}

// claimIndex returns the index in claimNames of the field encoding/json
// would decode key into (an exact match, or else a case-insensitive one,
// with Unicode simple folding: "ſub" is "sub"), or -1.
func claimIndex(key []byte) int {
	switch string(key) { // the exact names, in claimNames's order
	case "iss":
		return 0
	case "sub":
		return 1
	case "aud":
		return 2
	case "exp":
		return 3
	case "nbf":
		return 4
	case "iat":
		return 5
	case "jti":
		return 6
	case "type":
		return 7
	case "email":
		return 8
	case "name":
		return 9
	case "roles":
		return 10
	case "ver":
		return 11
	case "fam":
		return 12
	case "auth_time":
		return 13
	}
	ascii := true
	for _, c := range key {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for i, n := range claimNames {
		// An ASCII key matches an (ASCII) name only rune for rune, one
		// byte each: only a name of its own length. A key with other runes
		// ("ſub", with U+017F) may match with a rune of up to 3 bytes each.
		if ascii && len(key) != len(n) || !ascii && len(key) > 3*len(n) {
			continue
		}
		if strings.EqualFold(string(key), n) {
			return i
		}
	}
	return -1
}

// memberSet records the member names of one object, so that a repeated one
// is refused. Known claims (by claimNames index) are bits; other names are
// compared as decoded, in a small array and past it in a map, so that the
// claims of a valid token cost no allocation and 16 KiB of members costs
// linear time.
type memberSet struct {
	known uint32
	n     int
	small [8][]byte
	more  map[string]struct{}
}

// add records the member key, known as claim i (or -1), and returns
// errDuplicateMember if it was there already.
func (m *memberSet) add(i int, key []byte) error {
	if i >= 0 {
		if m.known&(1<<i) != 0 {
			return errDuplicateMember
		}
		m.known |= 1 << i
		return nil
	}
	for _, k := range m.small[:min(m.n, len(m.small))] {
		if string(k) == string(key) {
			return errDuplicateMember
		}
	}
	if m.n < len(m.small) {
		m.small[m.n] = key
		m.n++
		return nil
	}
	if _, dup := m.more[string(key)]; dup {
		return errDuplicateMember
	}
	if m.more == nil {
		m.more = map[string]struct{}{}
	}
	m.more[string(key)] = struct{}{}
	m.n++
	return nil
}

// member decodes the value of the member known as claim i into c, or skips
// it if i is -1.
func (s *scanner) member(i int, c *Claims) error {
	if i < 0 {
		return s.skip()
	}
	switch claimNames[i] {
	case "iss":
		return s.strField(&c.Issuer)
	case "sub":
		return s.strField(&c.Subject)
	case "jti":
		return s.strField(&c.ID)
	case "email":
		return s.strField(&c.Email)
	case "name":
		return s.strField(&c.Name)
	case "fam":
		return s.strField(&c.Family)
	case "type":
		var t string
		t = string(c.Type)
		err := s.strField(&t)
		c.Type = TokenType(t)
		return err
	case "exp":
		return s.dateField(&c.ExpiresAt)
	case "nbf":
		return s.dateField(&c.NotBefore)
	case "iat":
		return s.dateField(&c.IssuedAt)
	case "auth_time":
		return s.dateField(&c.AuthTime)
	case "aud":
		return s.audField(&c.Audience)
	case "roles":
		if s.roles != "" {
			return s.skip()
		}
		return s.rolesField(&c.Roles)
	case "ver":
		if s.lit("null") {
			return nil
		}
		n, err := s.num()
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return errJSON
		}
		c.Version = v
		return nil
	}
	return s.skip()
}

func (s *scanner) strField(dst *string) error {
	if s.lit("null") {
		return nil
	}
	v, err := s.str()
	if err == nil {
		*dst = v
	}
	return err
}

// dateField decodes a NumericDate as golang-jwt does (a float, truncated to
// jwt.TimePrecision), but only if it is finite, ≥ 0 and below
// maxNumericDate: errDateRange otherwise. The float is range-checked before
// any conversion to an integer.
func (s *scanner) dateField(dst **jwt.NumericDate) error {
	if s.lit("null") {
		*dst = nil
		return nil
	}
	n, err := s.num()
	if err != nil {
		return err
	}
	f, err := parseNumber(n)
	if err != nil || !(f >= 0 && f < maxNumericDate) { // a valid JSON number fails to parse only as ±Inf
		return errDateRange
	}
	sec, frac := math.Modf(f)
	*dst = jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9)))
	return nil
}

// parseNumber is strconv.ParseFloat(string(n), 64) for a JSON number n,
// with a shortcut for the integers dates usually are: up to 15 digits, a
// value below 2^53 that a float64 holds exactly, as ParseFloat rounds it.
func parseNumber(n []byte) (float64, error) {
	if len(n) == 0 || len(n) > 15 {
		return strconv.ParseFloat(string(n), 64)
	}
	var v int64
	for _, c := range n {
		if c < '0' || c > '9' {
			return strconv.ParseFloat(string(n), 64)
		}
		v = v*10 + int64(c-'0')
	}
	return float64(v), nil
}

// audField decodes "aud" as jwt.ClaimStrings does: a string, an array of
// strings, or null (which leaves it as it is).
func (s *scanner) audField(dst *jwt.ClaimStrings) error {
	if s.lit("null") {
		return nil
	}
	if s.peek() == '"' {
		v, err := s.str()
		if err == nil {
			*dst = jwt.ClaimStrings{v}
		}
		return err
	}
	var aud jwt.ClaimStrings
	err := s.array(func() error {
		v, err := s.str() // null or another type is jwt.ErrInvalidType
		aud = append(aud, v)
		return err
	})
	if err == nil {
		*dst = aud
	}
	return err
}

// rolesField decodes a []string as encoding/json does: null clears it, and
// a null element is "".
func (s *scanner) rolesField(dst *[]string) error {
	if s.lit("null") {
		*dst = nil
		return nil
	}
	roles := []string{}
	err := s.array(func() error {
		if s.lit("null") {
			roles = append(roles, "")
			return nil
		}
		v, err := s.str()
		roles = append(roles, v)
		return err
	})
	if err == nil {
		*dst = roles
	}
	return err
}

// scanner reads JSON (RFC 8259) from b; the caller has checked that b is
// valid UTF-8.
type scanner struct {
	b     []byte
	i     int
	roles string // the roles claim of decodeClaims, if not "roles" strictly
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) next(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// end checks that only white space follows the top-level value.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errJSON
	}
	return nil
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// array calls elem for each element of an array.
func (s *scanner) array(elem func() error) error {
	if !s.next('[') {
		return errJSON
	}
	s.ws()
	if s.next(']') {
		return nil
	}
	for {
		s.ws()
		if err := elem(); err != nil {
			return err
		}
		s.ws()
		if s.next(',') {
			continue
		}
		if s.next(']') {
			return nil
		}
		return errJSON
	}
}

// object reads an object, calling member for each member name with the
// scanner at its value, which member must consume.
func (s *scanner) object(member func(key []byte) error) error {
	s.ws()
	if !s.next('{') {
		return errJSON
	}
	s.ws()
	if s.next('}') {
		return nil
	}
	for {
		s.ws()
		key, err := s.key()
		if err != nil {
			return err
		}
		s.ws()
		if !s.next(':') {
			return errJSON
		}
		s.ws()
		if err := member(key); err != nil {
			return err
		}
		s.ws()
		if s.next(',') {
			continue
		}
		if s.next('}') {
			return nil
		}
		return errJSON
	}
}

// skip passes over any value, checking its syntax. Names repeated inside a
// skipped value are not claim names, and are let be.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '"':
		return s.skipStr()
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '-' || '0' <= c && c <= '9':
		_, err := s.num()
		return err
	case s.lit("true"), s.lit("false"), s.lit("null"):
		return nil
	}
	return errJSON
}

// num returns the text of a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) num() ([]byte, error) {
	start := s.i
	s.next('-')
	switch {
	case s.next('0'):
	case '1' <= s.peek() && s.peek() <= '9':
		s.digits()
	default:
		return nil, errJSON
	}
	if s.next('.') && !s.digits() {
		return nil, errJSON
	}
	if s.next('e') || s.next('E') {
		if !s.next('+') {
			s.next('-')
		}
		if !s.digits() {
			return nil, errJSON
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) digits() bool {
	start := s.i
	for '0' <= s.peek() && s.peek() <= '9' {
		s.i++
	}
	return s.i > start
}

// key returns a member name: a view of the input when it has no escapes,
// so that matching it allocates nothing.
func (s *scanner) key() ([]byte, error) {
	if !s.next('"') {
		return nil, errJSON
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], nil
		case c == '\\':
			s.i = start - 1
			v, err := s.str()
			return []byte(v), err
		case c < 0x20:
			return nil, errJSON
		}
		s.i++
	}
	return nil, errJSON
}

// str decodes a string, with encoding/json's handling of \u escapes: a
// surrogate that is not half of a pair becomes U+FFFD.
func (s *scanner) str() (string, error) {
	if !s.next('"') {
		return "", errJSON
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, nil
		case c == '\\':
			return s.strEscaped(start)
		case c < 0x20:
			return "", errJSON
		}
		s.i++
	}
	return "", errJSON
}

// skipStr passes over a string as str reads it, without allocating when
// it has no escapes; one with escapes goes through str, which checks them.
func (s *scanner) skipStr() error {
	start := s.i
	if !s.next('"') {
		return errJSON
	}
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return nil
		case c == '\\':
			s.i = start
			_, err := s.str()
			return err
		case c < 0x20:
			return errJSON
		}
		s.i++
	}
	return errJSON
}

func (s *scanner) strEscaped(start int) (string, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), nil
		case c < 0x20:
			return "", errJSON
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		s.i++
		switch s.peek() {
		case '"', '\\', '/':
			out = append(out, s.b[s.i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4(s.i + 1)
			if !ok {
				return "", errJSON
			}
			s.i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := s.hex4(s.i + 3)
				if dec := utf16.DecodeRune(r, r2); ok && s.i+2 < len(s.b) && s.b[s.i+1] == '\\' && s.b[s.i+2] == 'u' && dec != utf8.RuneError {
					r = dec
					s.i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errJSON
		}
		s.i++
	}
	return "", errJSON
}

// hex4 reads the four hex digits at b[i:].
func (s *scanner) hex4(i int) (rune, bool) {
	if i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
