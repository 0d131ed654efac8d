package auth

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far: on a machine
// shared with other work it varies less than wall time, and it counts
// every argon2 lane.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVerifyCost compares what one Verify costs per stored hash, with
// a wrong and with the right password, to be read as ratios to the baseline
// unknown-user/dummy/wrong: an unknown user (the dummy hash of the default
// argon2id policy), a user at the policy, an unusable hash, bcrypt users,
// and each legacy scheme at the parameters its library writes by default
// (testdata/legacy_vectors.json). Run it with -benchtime 5x: a bcrypt-12
// check alone is a quarter of a second.
func BenchmarkVerifyCost(b *testing.B) {
	ctx := context.Background()
	p := newPasswords(b, WithLegacy(DjangoHashers, WerkzeugHashes, PasslibPBKDF2, BetterAuthScrypt), WithNFKC(testNFKC))
	const pw = "correct horse battery staple"
	bc10 := newPasswords(b, WithBcrypt(10))
	bc12 := newPasswords(b, WithBcrypt(12))
	cases := []struct{ name, hash, password string }{
		{"unknown-user/dummy", "", pw},
		{"unusable-marker", "!Zx3dVhE9e1c4tSRsN6u8Ykbn7oIg2pQAfvWw0XmL", pw},
		{"argon2id-default-user", mustHash(b, p, pw), pw},
		{"bcrypt-10-user", mustHash(b, bc10, pw), pw},
		{"bcrypt-12-user", mustHash(b, bc12, pw), pw},
	}
	for _, v := range loadLegacyVectors(b) {
		if v.Password != pw || !v.Valid {
			continue
		}
		name := v.Source
		switch {
		case strings.Contains(name, "'pbkdf2_sha256'"):
			name = "django-pbkdf2-sha256-260000"
		case strings.Contains(name, "iterations=1200000"):
			name = "django-6.0-pbkdf2-sha256-1200000"
		case strings.Contains(name, "hasher='argon2'"):
			name = "django-argon2id-m102400-t2-p8"
		case strings.Contains(name, "hasher='bcrypt_sha256'"):
			name = "django-bcrypt-sha256-12"
		case strings.Contains(name, "method='pbkdf2:sha256'"):
			name = "werkzeug-2-pbkdf2-sha256-260000"
		case strings.Contains(name, "method='pbkdf2') (1,000,000"):
			name = "werkzeug-3-pbkdf2-sha256-1000000"
		case strings.Contains(name, "scrypt default"):
			name = "werkzeug-3-scrypt-32768-8-1"
		case strings.Contains(name, "passlib") && strings.Contains(name, "pbkdf2_sha256.hash"):
			name = "passlib-pbkdf2-sha256-29000"
		case strings.Contains(name, "better-auth"):
			name = "better-auth-scrypt-16384-16-1"
		case strings.Contains(name, "node-argon2") && strings.Contains(name, "defaults"):
			name = "node-argon2-m65536-t3-p4"
		case strings.Contains(name, "argon2-cffi"):
			name = "argon2-cffi-m102400-t2-p8"
		default:
			continue
		}
		cases = append(cases, struct{ name, hash, password string }{name, v.Hash, v.Password})
	}
	if _, err := p.dummy(); err != nil { // made once, on first use: not part of a check
		b.Fatal(err)
	}
	for _, c := range cases {
		// wrong is what an attacker probing for names measures; right is
		// what the user's own login costs (before its rehash).
		b.Run(c.name+"/wrong", func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				p.Verify(ctx, c.hash, "wrong password")
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
		if c.hash == "" || c.hash[0] == '!' {
			continue
		}
		b.Run(c.name+"/right", func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				p.Verify(ctx, c.hash, c.password)
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
