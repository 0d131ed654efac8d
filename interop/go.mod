module github.com/keygate/auth/interop

go 1.26.0

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/keygate/auth v0.0.0
)

require (
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/keygate/auth => ../
