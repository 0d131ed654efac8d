package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keygate/auth/sqlstore"
)

// validEmail normalises an email for registration and says whether it may
// be one. The rule, so that two accounts cannot look alike:
//   - it is valid UTF-8 of at most 254 bytes (and holds no U+FFFD, which
//     JSON decoding leaves for invalid bytes), with exactly one "@" that is
//     neither first nor last, and a dot in the domain;
//   - it holds no control character (C0 and C1, DEL, so no NUL, CR or LF),
//     no format character (Unicode Cf: the bidi controls U+202A–U+202E and
//     U+2066–U+2069, the marks U+200E/U+200F/U+061C, the zero-width
//     characters U+200B–U+200D, U+2060 and U+FEFF, the soft hyphen), no
//     white space and no unassigned or private-use code point; surrounding
//     spaces are trimmed, but a control character anywhere refuses it;
//   - it is compared whole, case-insensitively (lower-cased, as
//     sqlstore.NormalizeEmail does): the domain part is case-insensitive
//     by RFC 5321, and no mail provider in practice tells users apart by
//     the case of the local part.
func validEmail(raw string) (string, bool) {
	if strings.ContainsFunc(raw, unicode.IsControl) {
		return "", false // before trimming: "admin@example.com\r\n" is refused, not trimmed
	}
	email := sqlstore.NormalizeEmail(raw)
	if len(email) > 254 || !utf8.ValidString(email) {
		return "", false
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || !strings.Contains(domain, ".") {
		return "", false
	}
	for _, r := range email {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) ||
			unicode.Is(unicode.Co, r) || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) {
			return "", false
		}
	}
	return email, true
}
