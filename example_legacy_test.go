package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keygate/auth"
)

// A service taking over a Django project's users verifies their
// pbkdf2_sha256 hashes, and stores an argon2id hash on each first login.
func ExampleWithLegacy() {
	ctx := context.Background()
	passwords, err := auth.NewPasswords(auth.WithLegacy(auth.DjangoHashers))
	if err != nil {
		panic(err)
	}
	// Copied unchanged from Django's auth_user.password (Django 3.2).
	stored := "pbkdf2_sha256$260000$qS0WV2wlPdtLts6bVFugCY$6iqlXLBwsBAvdpfIn/Msecnr9/ujTMiRJrdhsi2GTJU="

	rehash, err := passwords.Verify(ctx, stored, "correct horse battery staple")
	fmt.Println("match:", err == nil, "rehash:", rehash)
	if rehash {
		stored, _ = passwords.Hash(ctx, "correct horse battery staple") // UpdatePasswordHash
	}
	fmt.Println(strings.SplitN(stored, "$", 3)[1])

	// Without the option, the same hash does not verify.
	strict, _ := auth.NewPasswords()
	_, err = strict.Verify(ctx, "pbkdf2_sha256$260000$qS0WV2wlPdtLts6bVFugCY$6iqlXLBwsBAvdpfIn/Msecnr9/ujTMiRJrdhsi2GTJU=", "correct horse battery staple")
	fmt.Println(errors.Is(err, auth.ErrInvalidHash))
	// Output:
	// match: true rehash: true
	// argon2id
	// true
}
