package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strings"
)

// DefaultIPv6Prefix is how many leading bits of an IPv6 address name one
// client for throttling: a /64 is what one subscriber line or host usually
// has, so an attacker with a /64 cannot get a fresh count per address.
const DefaultIPv6Prefix = 64

// ipKey is the limiter key of a client IP as [WithClientIP] reads it: the
// canonical address (IPv4-mapped IPv6 unmapped, IPv6 zones dropped), with
// IPv6 cut to its first bits6 bits. A value that is not an IP address (a
// custom WithClientIP may return anything) is hashed, so keys stay short.
func ipKey(ip string, bits6 int) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		sum := sha256.Sum256([]byte(ip))
		return "ip?" + hex.EncodeToString(sum[:16])
	}
	addr = embeddedIPv4(addr.Unmap().WithZone(""))
	if addr.Is6() {
		p, _ := addr.Prefix(bits6) // bits6 is checked at construction
		return "ip:" + p.String()
	}
	return "ip:" + addr.String()
}

// nat64 is the well-known NAT64 prefix (RFC 6052): an IPv4 client seen
// through NAT64 has its address in the last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// embeddedIPv4 returns the IPv4 address an IPv6 address carries for an IPv4
// client (NAT64's 64:ff9b::/96, and the deprecated IPv4-compatible ::/96
// other than :: and ::1), so that such clients are keyed one by one, not as
// one /64; any other address is returned as it is.
func embeddedIPv4(a netip.Addr) netip.Addr {
	if !a.Is6() {
		return a
	}
	b := a.As16()
	compatible := [12]byte(b[:12]) == [12]byte{} && (b[12]|b[13]|b[14]) != 0
	if nat64.Contains(a) || compatible {
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return a
}

// ForwardedFor returns a client-IP reader for [WithClientIP] behind
// reverse proxies that append the address they received a request from to
// X-Forwarded-For. proxies are the networks of your own proxies, and only
// those: the header is trusted only as far as they wrote it.
//
// It starts from the address of the TCP peer (r.RemoteAddr): if that is not
// a trusted proxy, it is the client, and the header, which the client may
// have written, is ignored. Otherwise it reads the header's addresses right
// to left (every X-Forwarded-For line, in order; at most 32 entries, so a
// long header costs what a short one does), skipping trusted proxies,
// and returns the first address that is not one: the one the outermost of
// your proxies saw. A value a client put at the left is never reached
// while a proxy of yours stands to its right. A malformed entry ends the
// walk, and the last proxy's address is returned (it wrote what it was
// given). Addresses are returned canonical (IPv4-mapped IPv6 unmapped).
func ForwardedFor(proxies ...netip.Prefix) func(*http.Request) string {
	return proxyChain(proxies, "X-Forwarded-For", func(hop string) string { return hop })
}

// Forwarded is [ForwardedFor] for proxies that append to the RFC 7239
// Forwarded header instead: it reads the for= parameter of each element
// (quoted IPv6 with brackets and ports allowed; "unknown" and obfuscated
// identifiers count as malformed).
func Forwarded(proxies ...netip.Prefix) func(*http.Request) string {
	return proxyChain(proxies, "Forwarded", func(elem string) string {
		hop := "" // an element without for= is malformed for this purpose
		for pair := range strings.SplitSeq(elem, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
			if strings.EqualFold(k, "for") {
				hop = strings.Trim(v, `"`)
			}
		}
		return hop
	})
}

// maxForwardedHops bounds the walk: no real chain of proxies is this long.
const maxForwardedHops = 32

func proxyChain(proxies []netip.Prefix, header string, hopOf func(string) string) func(*http.Request) string {
	trusted := func(a netip.Addr) bool {
		for _, p := range proxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer, ok := parseHop(remoteHost(r))
		if !ok {
			return remoteHost(r)
		}
		if !trusted(peer) {
			return peer.String()
		}
		// Right to left, over the header's lines and then their elements,
		// looking at no more than maxForwardedHops of them: a long header
		// costs no more than a short one.
		client := peer
		lines := r.Header.Values(header)
		n := 0
	walk:
		for l := len(lines) - 1; l >= 0; l-- {
			line := lines[l]
			for line != "" {
				if n++; n > maxForwardedHops {
					break walk
				}
				elem := line
				if i := strings.LastIndexByte(line, ','); i >= 0 {
					elem, line = line[i+1:], line[:i]
				} else {
					line = ""
				}
				a, ok := parseHop(hopOf(strings.TrimSpace(elem)))
				if !ok {
					break walk
				}
				client = a
				if !trusted(a) {
					break walk
				}
			}
		}
		return client.String()
	}
}

// parseHop reads an address as proxies write it: bare, or with a port
// ("203.0.113.5:4711", "[2001:db8::1]:4711"), unmapped and without a zone.
func parseHop(s string) (netip.Addr, bool) {
	if len(s) > 64 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
				a, err = netip.ParseAddr(s[1 : len(s)-1])
			}
			if err != nil {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	return a.Unmap().WithZone(""), true
}

// ReserveIP reserves one attempt by the client's IP (as [WithClientIP]
// reads it, keyed canonically as the login throttles key it) under scope, a
// name of the service's choosing such as "register", in the
// Authenticator's [Limiter], before work that costs a password hash or
// that an attacker could repeat for profit: a registration, a reset
// request. Scopes count apart from each other and from logins. It returns
// nil when the attempt may proceed, a [*RateLimitError] while the IP must
// wait (answer it with [Authenticator.Error]: 429 with Retry-After), or a
// store failure (503). Every call counts: there is nothing to release. A
// refusal emits [EventRateLimited] with the scope. Use one Throttle per
// scope: each scope has one count per IP, whatever Throttle a call passes,
// and a wait this instance remembers (see [WithLimiter]) applies to every
// call in the scope.
func (a *Authenticator[U]) ReserveIP(r *http.Request, scope string, t Throttle) error {
	if err := t.check(); err != nil {
		return err
	}
	// "svc:" keeps a service's scopes apart from the library's own keys.
	err := a.reserve(r.Context(), []throttleKey{{"svc:" + scope + "-" + a.clientKey(r), t}})
	if errors.Is(err, ErrRateLimited) {
		a.emit(r, Event{Kind: EventRateLimited, Scope: scope, Err: err})
	}
	return err
}

// clientKey is the limiter key of the request's client IP.
func (a *Authenticator[U]) clientKey(r *http.Request) string {
	return ipKey(a.clientIP(r), a.ipv6Prefix)
}
