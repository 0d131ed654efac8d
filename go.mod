module github.com/keygate/auth

go 1.26.0

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0 // indirect; x/crypto's argon2 needs x/sys/cpu
)
