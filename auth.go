// Package auth is authentication and authorization for net/http services:
// password hashing, access and refresh tokens, a bearer middleware that puts
// the caller's own user type in the request context, role and owner guards,
// API keys, and login and refresh handlers.
//
// # Quick start
//
// A service holds one [Passwords] policy and one [Tokens] issuer:
//
//	passwords, err := auth.NewPasswords() // argon2id, OWASP parameters
//	key, err := auth.HMACKeyFromEnv("AUTH_SECRET")
//	tokens, err := auth.NewTokens(key, auth.WithIssuer("https://api.example.com"))
//
// At sign-up it stores passwords.Hash(ctx, password); at login it calls
// passwords.Verify(ctx, storedHash, password), re-hashes when Verify says so,
// and answers with tokens.Issue(auth.AccessToken, claims) and
// tokens.Issue(auth.RefreshToken, claims).
//
// # Passwords
//
// [Passwords] hashes new passwords with one scheme (argon2id by default, or
// bcrypt) and verifies hashes of every scheme it knows, so a policy change
// never locks anyone out: [Passwords.Verify] reports when a stored hash
// should be replaced. Verifying against an empty hash, as for a user that
// does not exist, costs as much as a real verify and fails.
//
// # Tokens
//
// [Tokens] issues and verifies JWTs of two kinds, [AccessToken] and
// [RefreshToken]. Each carries its kind twice, in the "typ" header and in the
// "type" claim, and [Tokens.Verify] checks both: a refresh token is never
// accepted where an access token is expected. The algorithm is fixed by the
// [Key], never by the token.
//
// # Middleware
//
// [New] builds an [Authenticator] from a [Tokens] and the caller's
// [UserStore]. Its [Authenticator.Middleware] verifies the bearer token,
// loads the user, and stores both in the request context for [UserFrom],
// [ClaimsFrom] and [PrincipalFrom]. Failures answer as RFC 6750 says: 401
// with a challenge, 400 for a malformed header, with a generic JSON body.
//
//	a, err := auth.New[*User](tokens, store)
//	mux.Handle("GET /users/me", a.Middleware(http.HandlerFunc(me)))
//	mux.Handle("POST /auth/login", a.LoginHandler())
//	mux.Handle("POST /auth/refresh", a.RefreshHandler())
//
// # Roles
//
// Guards are func(http.Handler) http.Handler values that compose per route:
// [RequireRole], [RequireAllRoles], [RequireOwner] and [RequireOwnerFunc].
// They read the [Principal], so they work the same behind the token
// middleware and behind [RequireAPIKey].
//
//	mux.Handle("GET /admin/stats", a.Middleware(auth.RequireRole("admin")(stats)))
//	mux.Handle("DELETE /users/{id}", a.Middleware(auth.RequireOwner("id", "admin")(del)))
//
// # Stores
//
// The caller implements small interfaces over its own database: [UserStore]
// and [LoginStore] for users, [APIKeyStore] for API keys. "Not found" is a
// found result of false, never an error, so it cannot turn into a 503, and a
// failing store can never let a request through. [MemoryUsers] and
// [MemoryAPIKeys] serve tests and prototypes. The state the library changes
// at run time lives behind [RefreshStore], [Limiter] and [Denylist]; the
// in-memory defaults serve one instance, and the sqlstore and redisstore
// modules share it between instances. Package authtest checks a store
// against these contracts.
//
// # Throttling
//
// Every attempt that costs a password hash is reserved in the [Limiter]
// before the hash runs ([Limiter.Reserve] decides and counts in one step),
// per login name or user and per client IP, so parallel requests cannot
// all pass one check: [Authenticator.LoginHandler],
// [Authenticator.CheckPassword] for password changes and
// re-authentication, and [Authenticator.ReserveIP] for a service's own
// endpoints. Client IPs are keyed canonically ([WithIPv6Prefix]); behind
// reverse proxies, read them with [ForwardedFor] or [Forwarded].
//
// # Browser apps
//
// [WithCookies] keeps the tokens of a browser app in HttpOnly, Secure,
// SameSite cookies, with [http.CrossOriginProtection] on every request they
// authenticate with an unsafe method. Tokens record when the password was
// last entered ("auth_time"); [Authenticator.RequireFresh] and
// [Authenticator.ReauthenticateHandler] ask for it again before sensitive
// actions. [WithOneTimeTokens] adds single-use password-reset and
// email-verification links ([Authenticator.PasswordResetRequestHandler],
// [Authenticator.PasswordResetHandler], [Authenticator.VerifyEmailHandler]).
//
// # Errors
//
// Every error the package returns can be tested with [errors.Is] against the
// sentinels below. Every token rejection matches [ErrInvalidToken], and a more
// specific sentinel where one applies. No error message contains a token,
// a password, a hash or a key.
package auth

import "errors"

var (
	// ErrInvalidToken is matched by every token rejection: malformed, forged,
	// expired, of the wrong type or signed by an unknown key.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrMalformedToken is returned for a token that is not a well-formed
	// compact JWS: too large, bad characters or encoding, bad JSON, a member
	// named twice, or a NumericDate out of range.
	ErrMalformedToken = errors.New("auth: malformed token")
	// ErrTokenSignature is returned when the signature does not verify or the
	// algorithm is not the one bound to the key.
	ErrTokenSignature = errors.New("auth: token signature invalid")
	// ErrUnknownKey is returned when the token names a key ID that is not
	// configured.
	ErrUnknownKey = errors.New("auth: unknown token key")
	// ErrTokenType is returned for a token of another kind than the one
	// expected, such as a refresh token presented as an access token.
	ErrTokenType = errors.New("auth: wrong token type")
	// ErrTokenExpired is returned for a token past its expiry (plus leeway).
	ErrTokenExpired = errors.New("auth: token expired")
	// ErrTokenClaims is returned when a claim other than the expiry fails
	// validation: issuer, audience, not-before, issued-at, or a required
	// claim that is missing.
	ErrTokenClaims = errors.New("auth: token claims invalid")

	// ErrPasswordMismatch is returned by [Passwords.Verify] when the password
	// does not match the hash.
	ErrPasswordMismatch = errors.New("auth: password does not match")
	// ErrPasswordTooLong is returned for a password longer than the policy
	// accepts (72 bytes for bcrypt, 1 KiB by default otherwise).
	ErrPasswordTooLong = errors.New("auth: password too long")
	// ErrPasswordTooShort is returned for an empty password, or by
	// [Passwords.Check] for one shorter than the policy's minimum.
	ErrPasswordTooShort = errors.New("auth: password too short")
	// ErrInvalidHash is returned for a stored hash that is malformed, of an
	// unknown scheme, or whose parameters are out of bounds.
	ErrInvalidHash = errors.New("auth: malformed or unsupported password hash")

	// ErrNoToken is returned when a request carries no bearer token: no
	// Authorization header, or one of another scheme. It answers 401 with a
	// challenge and no error code (RFC 6750 §3.1).
	ErrNoToken = errors.New("auth: no bearer token")
	// ErrInvalidRequest is returned for a malformed request: two
	// Authorization headers, "Bearer" with no token, a login or refresh body
	// that cannot be read. It answers 400.
	ErrInvalidRequest = errors.New("auth: invalid request")
	// ErrUnknownUser is returned when a valid token names a user the store
	// does not have, or an inactive one. It matches [ErrInvalidToken].
	ErrUnknownUser = errors.New("auth: unknown or inactive user")
	// ErrTokenRevoked is returned for a token whose version is not the
	// user's current token version. It matches [ErrInvalidToken].
	ErrTokenRevoked = errors.New("auth: token revoked")
	// ErrUnknownSession is returned for a refresh token whose family the
	// [RefreshStore] does not know: never created there, expired and
	// dropped, or lost (an in-memory store forgets every session when the
	// process restarts). The client gets the same 401 as for a revoked one.
	// It matches [ErrInvalidToken].
	ErrUnknownSession = errors.New("auth: unknown session")
	// ErrForbidden is returned when the principal lacks a role or does not
	// own the resource. It answers 403.
	ErrForbidden = errors.New("auth: access denied")
	// ErrInvalidAPIKey is returned for a missing, unknown, revoked or
	// expired API key. It answers 401.
	ErrInvalidAPIKey = errors.New("auth: invalid API key")
	// ErrInvalidCredentials is returned by the login handler for an unknown
	// user, a wrong password or an inactive account alike. It answers 401
	// with the OAuth error code invalid_grant.
	ErrInvalidCredentials = errors.New("auth: incorrect username or password")
	// ErrInvalidGrant is returned by the refresh handler for any refresh
	// token it does not accept. It answers 401 with invalid_grant.
	ErrInvalidGrant = errors.New("auth: invalid refresh token")
	// ErrUnsupportedGrantType is returned for a form whose grant_type is not
	// the endpoint's. It answers 400.
	ErrUnsupportedGrantType = errors.New("auth: unsupported grant type")
	// ErrUnsupportedMediaType is returned for a login or refresh body that is
	// neither a form nor JSON. It answers 415.
	ErrUnsupportedMediaType = errors.New("auth: unsupported media type")
	// ErrMethodNotAllowed is returned by the handlers for a method other than
	// POST. It answers 405.
	ErrMethodNotAllowed = errors.New("auth: method not allowed")
	// ErrBusy is returned when every password-hashing slot stayed busy for
	// the whole wait. It answers 503 with Retry-After.
	ErrBusy = errors.New("auth: too many concurrent logins")

	// ErrCrossOrigin is returned for a browser request with an unsafe
	// method that the cookie transport ([WithCookies]) would authenticate
	// but that comes from another origin ([http.CrossOriginProtection]:
	// Sec-Fetch-Site, else Origin against Host). It answers 403.
	ErrCrossOrigin = errors.New("auth: cross-origin request refused")
	// ErrCSRFToken is returned, with CookieConfig.CSRFToken, for a request
	// with an unsafe method that the access cookie authenticates but whose
	// X-CSRF-Token header is missing, repeated or not the session's token.
	// It answers 403.
	ErrCSRFToken = errors.New("auth: missing or invalid CSRF token")
	// ErrLoginTooOld is matched by every [*FreshLoginError]: the user's
	// last password entry is older than the route allows
	// ([Authenticator.RequireFresh]). It answers 401 with RFC 9470's
	// insufficient_user_authentication challenge and max_age.
	ErrLoginTooOld = errors.New("auth: login too old")
	// ErrInvalidOneTimeToken is returned for a password-reset or
	// email-verification token that is malformed, forged, expired, already
	// used (the password changed since), bound to another email, or of
	// another purpose or kind. It answers 400.
	ErrInvalidOneTimeToken = errors.New("auth: invalid or expired one-time token")
)
