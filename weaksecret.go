package auth

import (
	"errors"
	"fmt"
)

// errWeakSecret is the cause of every weak-secret error: see weakSecret.
var errWeakSecret = errors.New("trivially weak")

// The weak-secret rule's thresholds.
const (
	minSecretBytes = 8 // distinct byte values
	minSecretSteps = 8 // distinct differences between consecutive bytes
)

// weakSecret reports whether an HMAC secret is trivially weak: a
// placeholder, not a random value. It is, if
//   - it has fewer than 8 distinct byte values (32 zero bytes, "aaaa…",
//     "abab…", "password" × 4);
//   - it repeats a block of at most half its length ("secret" × 6, the same
//     16 bytes twice, "0123456789abcdef" × 2);
//   - its consecutive bytes differ by fewer than 8 distinct steps (the
//     bytes 0, 1, 2…, "abcdef…").
//
// No rule measures entropy (no rule can): a password-like secret passes
// them. A random secret fails them with a probability below 10⁻¹⁸ for
// GenerateSecret's 43 characters, 32 random bytes or 64 hex digits, and
// about 3.5·10⁻⁸ for 32 hex digits (which carry only 128 bits). The error
// names the rule, never the secret. It costs O(len(secret)) time.
func weakSecret(s []byte) error {
	var seen, steps [256]bool
	distinct, stepCount := 0, 0
	for i, c := range s {
		if !seen[c] {
			seen[c] = true
			distinct++
		}
		if i > 0 {
			if d := c - s[i-1]; !steps[d] {
				steps[d] = true
				stepCount++
			}
		}
	}
	switch {
	case distinct < minSecretBytes:
		return fmt.Errorf("%w: fewer than %d distinct bytes", errWeakSecret, minSecretBytes)
	case smallestPeriod(s) <= len(s)/2:
		return fmt.Errorf("%w: a repeated block", errWeakSecret)
	case stepCount < minSecretSteps:
		return fmt.Errorf("%w: an evenly stepped sequence", errWeakSecret)
	}
	return nil
}

// smallestPeriod returns the smallest p > 0 such that s[i] == s[i-p] for
// every i ≥ p (len(s) if none is smaller), with the KMP failure function:
// linear time, whatever the secret's length.
func smallestPeriod(s []byte) int {
	if len(s) == 0 {
		return 0
	}
	fail := make([]int, len(s)) // fail[i]: the longest proper border of s[:i+1]
	for i, k := 1, 0; i < len(s); i++ {
		for k > 0 && s[i] != s[k] {
			k = fail[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		fail[i] = k
	}
	return len(s) - fail[len(s)-1]
}
