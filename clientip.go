package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
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
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(bits6) // bits6 is checked at construction
		return "ip:" + p.String()
	}
	return "ip:" + addr.String()
}
