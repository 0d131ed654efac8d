package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LoginHandler returns the login endpoint, to mount at POST /login (or
// /token): a first-party password login in the style of FastAPI's
// OAuth2PasswordRequestForm, not an OAuth grant to offer third parties.
//
// It takes the credentials from the body only, as a form
// (application/x-www-form-urlencoded: username, password and optionally
// grant_type=password) or as JSON ({"username" or "email", "password"}), and
// answers 200 with {"access_token", "refresh_token", "token_type": "bearer",
// "expires_in"} and Cache-Control: no-store. An unknown user, a wrong
// password and an inactive account get the same 401 ("Incorrect username or
// password"), after at least one hash of the policy's scheme, whatever is
// stored (a hash not at the policy runs its own hash and then the policy's:
// no failure is cheaper than an unknown user's). A body over the limit
// gets 413, another content type 415, a method other than POST 405, a
// malformed body 400, and a wait for a hashing slot longer than
// [WithHashWait] 503.
//
// Failed logins are counted per login name (whether or not the account
// exists) and per client IP; past a threshold, attempts get 429 with
// Retry-After, without hashing, until a backoff that doubles up to a ceiling
// has passed ([WithThrottles]). A successful login clears its name's count.
// Each login starts a new refresh-token family, and both tokens record the
// login's time ("auth_time", for [Authenticator.RequireFresh]). With
// [WithCookies], the tokens are set as cookies instead of the body, and a
// cross-origin browser request gets 403 (login CSRF).
//
// It panics if the Authenticator's store is not a [LoginStore] or its
// verifier is not a [*Tokens]: those are wiring mistakes.
func (a *Authenticator[U]) LoginHandler() http.Handler {
	store, ok := a.users.(LoginStore[U])
	if !ok || a.tokens == nil {
		panic("auth: LoginHandler needs New with a *Tokens and a LoginStore (to accept another issuer's tokens beside your own, use WithCutover)")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.checkCrossOrigin(r); err != nil { // login CSRF, with the cookie transport
			a.fail(w, r, err)
			return
		}
		in, err := a.readBody(w, r, "password")
		if err == nil && (in.Username == "" || in.Password == "") {
			err = ErrInvalidRequest
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		keys := a.throttles(r, in.Username)
		acct, err := a.checkPassword(r, keys[:], in.Password, func(ctx context.Context) (U, bool, error) {
			return store.UserByLogin(ctx, in.Username)
		})
		if err != nil {
			a.emitPasswordFailure(r, EventLoginFailed, acct.ID, in.Username, err)
			a.fail(w, r, err)
			return
		}
		now := a.now()
		fam := RefreshFamily{ID: newID(), UserID: acct.ID, Current: newID(), CreatedAt: now, ExpiresAt: now.Add(a.sessionLifetime)}
		if err := a.refresh.Create(r.Context(), fam); err != nil {
			a.fail(w, r, &storeError{err})
			return
		}
		a.emit(r, Event{Kind: EventLogin, Subject: acct.ID, Login: in.Username, Family: fam.ID})
		a.issuePair(w, r, acct, acct.Roles, fam, jwt.NewNumericDate(now))
	})
}

// throttles are the limiter keys of a login attempt, with their policies:
// the login name (whether or not it exists) and the client's IP.
func (a *Authenticator[U]) throttles(r *http.Request, login string) [2]throttleKey {
	return [2]throttleKey{{accountKey(login), a.accountThrottle}, {a.clientKey(r), a.ipThrottle}}
}

type throttleKey struct {
	key string
	th  Throttle
}

// reserve counts an attempt against every key before the work it guards
// (a password hash, an API-key lookup's failure, a service's own work). If
// one key must wait, the attempts already counted are taken back and a
// *RateLimitError says for how long; a store failure is a *storeError.
//
// A key the store has refused is remembered until its wait ends (see
// refusals), and attempts under it are refused before any store call: a
// throttled flood costs the store a few calls per key and wait, not per
// request.
func (a *Authenticator[U]) reserve(ctx context.Context, keys []throttleKey) error {
	now := a.now()
	var buf [2]uint64
	gens := buf[:0] // each key's refusals generation, from before its Reserve
	for _, k := range keys {
		wait, gen := a.refused.wait(k.key, now)
		if wait > 0 {
			return &RateLimitError{RetryAfter: wait, repeat: true}
		}
		gens = append(gens, gen)
	}
	for i, k := range keys {
		wait, err := a.limiter.Reserve(ctx, k.key, now, k.th)
		if err == nil && wait <= 0 {
			continue
		}
		if err == nil {
			// Before the releases, whose forgets could share k's shard.
			a.refused.refuse(k.key, now.Add(wait), now, gens[i])
		}
		for _, done := range keys[:i] {
			a.release(ctx, done.key) // best effort: the attempt never ran
		}
		if err != nil {
			return &storeError{err}
		}
		return &RateLimitError{RetryAfter: wait}
	}
	return nil
}

// reserveOnce reserves key in the Limiter once until until (at least a
// minute from now), for something that may happen only once (a token's
// single use): of any number of calls, concurrent or not, the first gets
// true and the rest false until then. A store failure is a *storeError.
func (a *Authenticator[U]) reserveOnce(ctx context.Context, key string, now, until time.Time) (first bool, err error) {
	life := max(until.Sub(now), time.Minute)
	wait, err := a.limiter.Reserve(ctx, key, now, Throttle{Threshold: 1, Base: life, Max: life, Window: life})
	if err != nil {
		return false, &storeError{err}
	}
	return wait <= 0, nil
}

// CheckPassword verifies the password of the user whose ID is userID, for
// an endpoint that asks for it again: a password change, an account
// deletion, a re-authentication before a sensitive action. It is the check
// [Authenticator.LoginHandler] makes, throttled the same way: the attempt is
// reserved in the [Limiter] per user (keyed by the ID, a count apart from
// the login name's) and per client IP before the password hash runs, every
// failure costs at least one hash of the policy's scheme, and a success
// clears the user's count.
//
// It returns the user, or [ErrInvalidCredentials] for a wrong password, an
// unknown or inactive user or an unusable stored hash (one answer for all),
// a [*RateLimitError] (429 with Retry-After) while the user or the IP must
// wait, [ErrBusy] when no hashing slot frees up within [WithHashWait], or a
// store failure. It emits [EventPasswordCheck] or
// [EventPasswordCheckFailed]. Write the error with [Authenticator.Error].
func (a *Authenticator[U]) CheckPassword(r *http.Request, userID, password string) (U, error) {
	var user U
	if a.users == nil {
		return user, errors.New("auth: CheckPassword needs New with a UserStore")
	}
	keys := []throttleKey{{userKey(userID), a.accountThrottle}, {a.clientKey(r), a.ipThrottle}}
	acct, err := a.checkPassword(r, keys, password, func(ctx context.Context) (U, bool, error) {
		u, found, err := a.users.User(ctx, userID)
		user = u
		return u, found, err
	})
	if err != nil {
		a.emitPasswordFailure(r, EventPasswordCheckFailed, userID, "", err)
		var zero U
		return zero, err
	}
	a.emit(r, Event{Kind: EventPasswordCheck, Subject: acct.ID})
	return user, nil
}

// checkPassword is the one throttled password check: it reserves the
// attempt under every key, finds the user, and verifies the password,
// running one hash of the policy's scheme whatever it finds (no user, an
// inactive one, an unusable hash; [Passwords.Verify] adds it after a hash
// not at the policy). A success resets the first key
// (the name or user) and releases the rest (the IP); an attempt that never
// ran (a store failure, no free hashing slot) is released everywhere.
//
// On failure the account is returned as far as it is known (its ID, for
// the event). Every credential failure matches ErrInvalidCredentials, which
// wraps the reason (for the event, never for the response).
func (a *Authenticator[U]) checkPassword(r *http.Request, keys []throttleKey, password string, find func(context.Context) (U, bool, error)) (Account, error) {
	if err := a.reserve(r.Context(), keys); err != nil {
		return Account{}, err
	}
	acct, err := a.verifyPassword(r, password, find)
	ctx := r.Context()
	switch {
	case err == nil:
		rerr := a.limiter.Reset(ctx, keys[0].key)
		a.refused.forget(keys[0].key) // after the Reset: see refusals
		if rerr != nil {
			return acct, &storeError{rerr}
		}
		for _, k := range keys[1:] {
			a.release(ctx, k.key) // best effort: the count only errs high
		}
		return acct, nil
	case errors.Is(err, ErrInvalidCredentials):
		return acct, err // the attempt ran and stays counted
	default:
		for _, k := range keys {
			a.release(ctx, k.key) // best effort: the attempt never ran
		}
		return acct, err
	}
}

// release gives an attempt back to the store, best effort, and forgets
// what this instance remembered of key's refusals: the store's wait may now
// be shorter (see refusals).
func (a *Authenticator[U]) release(ctx context.Context, key string) {
	a.limiter.Release(ctx, key)
	a.refused.forget(key)
}

// verifyPassword finds the user and verifies the password.
func (a *Authenticator[U]) verifyPassword(r *http.Request, password string, find func(context.Context) (U, bool, error)) (Account, error) {
	ctx, cancel := context.WithTimeout(r.Context(), a.hashWait)
	defer cancel()
	u, found, err := find(ctx)
	if err != nil {
		return Account{}, &storeError{err}
	}
	var acct Account
	if found {
		acct = a.users.Account(u)
	}
	rehash, err := a.passwords.Verify(ctx, acct.PasswordHash, password) // "" runs the dummy
	switch {
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		return Account{}, ErrBusy
	case errors.Is(err, ErrBusy), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Account{}, err
	case err != nil:
		return Account{ID: acct.ID}, fmt.Errorf("%w: %w", ErrInvalidCredentials, err)
	case !found || !acct.Active:
		return Account{ID: acct.ID}, fmt.Errorf("%w: %w", ErrInvalidCredentials, ErrUnknownUser)
	}
	if updater, ok := a.users.(PasswordHashUpdater); ok && rehash {
		// A wait of its own: the verify may have used up ctx's.
		hctx, cancel := context.WithTimeout(r.Context(), a.hashWait)
		defer cancel()
		hash, err := a.passwords.Hash(hctx, password)
		if err == nil {
			err = updater.UpdatePasswordHash(hctx, acct.ID, hash)
			a.ForgetUser(acct.ID) // the user cache holds the old hash
		}
		if err != nil {
			a.logger.WarnContext(ctx, "auth: re-hashing a password failed; it is kept as it was", "subject", acct.ID, "err", err)
		}
	}
	return acct, nil
}

// RefreshHandler returns the refresh endpoint, to mount at POST /refresh. It
// takes the refresh token from the body only (JSON {"refresh_token"}, or a
// form with refresh_token and optionally grant_type=refresh_token; with
// [WithCookies], from its cookie when the request has one), verifies
// it as a refresh token, checks again that the user exists, is active and
// has the token's version, consumes it, and answers like
// [Authenticator.LoginHandler] with a new access token and a new refresh
// token of the same family (rotation). A token is consumed exactly once,
// even under concurrent requests: presenting a consumed token again is
// reuse, and revokes the whole family (RFC 9700 §4.14.2), unless
// [WithReuseGrace] allows it as a race. A family also ends at its absolute
// limit ([WithSessionLifetime]); each refresh token expires after the
// refresh TTL, so an idle session ends too. Roles never widen: the new
// tokens carry the roles both the old token and the user have, and the
// login's auth_time (a refresh never makes a login fresh). Every refusal
// gets the same 401 ("Invalid refresh token").
//
// It panics if the verifier is not a [*Tokens] or there is no user store.
func (a *Authenticator[U]) RefreshHandler() http.Handler {
	if a.tokens == nil || a.users == nil {
		panic("auth: RefreshHandler needs New with a *Tokens")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _, err := a.readRefreshToken(w, r, false)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		acct, roles, fam, authTime, err := a.rotate(r, token)
		if err != nil {
			// A store failure (500) or an unreachable store (503) keeps its
			// status: the client should retry, not discard its token.
			if s := ErrorStatus(err); s != http.StatusInternalServerError && s != http.StatusServiceUnavailable {
				err = ErrInvalidGrant
			}
			a.fail(w, r, err)
			return
		}
		a.emit(r, Event{Kind: EventRefresh, Subject: acct.ID, Family: fam.ID})
		a.issuePair(w, r, acct, roles, fam, authTime)
	})
}

// rotate checks a refresh token and consumes it: it returns the account,
// the roles for the new tokens, the family, whose Current is now the ID of
// the refresh token to issue, and the login's auth_time (nil for a token
// that has none, such as an old issuer's). Presenting a consumed token
// revokes its family, unless it is the one just rotated, within the grace
// window.
func (a *Authenticator[U]) rotate(r *http.Request, token string) (Account, []string, RefreshFamily, *jwt.NumericDate, error) {
	ctx := r.Context()
	fail := func(err error) (Account, []string, RefreshFamily, *jwt.NumericDate, error) {
		a.emit(r, Event{Kind: EventRefreshFailed, Err: err})
		return Account{}, nil, RefreshFamily{}, nil, err
	}
	c, err := a.tokens.Verify(token, RefreshToken)
	if err != nil {
		acct, fam, err := a.exchange(r, token, err) // an old service's token, during a cut-over
		if err != nil {
			return fail(err)
		}
		return acct, acct.Roles, fam, nil, nil
	}
	if c.Family == "" {
		return fail(invalid(ErrTokenClaims, nil))
	}
	_, acct, err := a.account(ctx, c)
	if err != nil {
		return fail(err)
	}
	now, next := a.now(), newID()
	fam, found, swapped, err := a.refresh.Rotate(ctx, c.Family, c.ID, next, now)
	switch {
	case err != nil:
		return fail(&storeError{err})
	case !found:
		return fail(invalid(ErrUnknownSession, nil))
	case fam.Revoked || fam.UserID != c.Subject || !now.Before(fam.ExpiresAt):
		return fail(invalid(ErrTokenRevoked, nil))
	case !swapped && a.reuseGrace > 0 && c.ID == fam.Previous && now.Sub(fam.RotatedAt) <= a.reuseGrace:
		return fail(invalid(ErrTokenRevoked, nil)) // a racing tab: refused, family kept
	case !swapped:
		if err := a.refresh.Revoke(ctx, c.Family); err != nil {
			return fail(&storeError{err})
		}
		a.emit(r, Event{Kind: EventRefreshReuse, Subject: c.Subject, Family: c.Family, Err: ErrTokenRevoked})
		return fail(invalid(ErrTokenRevoked, nil))
	}
	roles := slices.DeleteFunc(slices.Clone(c.Roles), func(r string) bool { return !slices.Contains(acct.Roles, r) })
	return acct, roles, fam, c.AuthTime, nil
}

// tokenResponse is RFC 6749 §5.1's successful response.
type tokenResponse struct {
	AccessToken  string `json:"access_token,omitempty"`  // omitted when it is set as a cookie
	RefreshToken string `json:"refresh_token,omitempty"` // omitted when it is set as a cookie
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

// issuePair answers with an access token and the family's current refresh
// token, which expires no later than the family; both carry the login's
// auth_time. With the cookie transport, the tokens set as cookies are left
// out of the body.
func (a *Authenticator[U]) issuePair(w http.ResponseWriter, r *http.Request, acct Account, roles []string, fam RefreshFamily, authTime *jwt.NumericDate) {
	c := Claims{Email: acct.Email, Name: acct.Name, Roles: roles, Version: acct.TokenVersion, AuthTime: authTime}
	c.Subject = acct.ID
	access, ac, err := a.tokens.Issue(AccessToken, c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c.Family = fam.ID
	refresh, rc, err := a.tokens.issue(RefreshToken, c, fam.Current, fam.ExpiresAt)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	resp := tokenResponse{access, refresh, "bearer", int64(a.tokens.TTL(AccessToken).Seconds())}
	a.setTokenCookies(w, r, &resp, ac.ID, rc.ExpiresAt.Time)
	writeJSON(w, resp)
}

// writeJSON answers 200 with v, uncached (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, v any) {
	body, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.Write(append(body, '\n'))
}

// readRefreshToken reads the refresh token of a refresh or logout request:
// with the cookie transport, from its cookie if the request carries one
// (after the cross-origin check), else from the body. With optional set, a
// request with neither a cookie nor a body (no Content-Type) has no token,
// which is not an error: a logout after the cookie expired.
func (a *Authenticator[U]) readRefreshToken(w http.ResponseWriter, r *http.Request, optional bool) (token string, fromCookie bool, err error) {
	if a.cookies != nil {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return "", false, ErrMethodNotAllowed
		}
		if err := a.checkCrossOrigin(r); err != nil {
			return "", false, err
		}
		token, ok, err := a.cookieValue(r, refreshCookie)
		if err != nil {
			return "", true, err
		}
		if ok {
			return token, true, nil
		}
		if optional && r.Header.Get("Content-Type") == "" {
			return "", false, nil
		}
	}
	in, err := a.readBody(w, r, "refresh_token")
	if err == nil && in.RefreshToken == "" {
		err = ErrInvalidRequest
	}
	return in.RefreshToken, false, err
}

// requestBody holds the fields the login and refresh endpoints read.
type requestBody struct {
	Username     string `json:"username"`
	Email        string `json:"email"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
	GrantType    string `json:"grant_type"`
	Token        string `json:"token"` // a one-time token
}

// readBody reads a POSTed form or JSON body of at most maxBody bytes. Only
// the body counts: values in the URL query are ignored. grant is the
// grant_type a form may name.
func (a *Authenticator[U]) readBody(w http.ResponseWriter, r *http.Request, grant string) (requestBody, error) {
	var in requestBody
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return in, ErrMethodNotAllowed
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" && mt != "application/json" {
		return in, ErrUnsupportedMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return in, err
		}
		return in, ErrInvalidRequest
	}
	if mt == "application/json" {
		if err := json.Unmarshal(body, &in); err != nil {
			return in, ErrInvalidRequest
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return in, ErrInvalidRequest
		}
		for name, dst := range map[string]*string{"username": &in.Username, "password": &in.Password,
			"refresh_token": &in.RefreshToken, "grant_type": &in.GrantType, "email": &in.Email, "token": &in.Token} {
			switch len(form[name]) {
			case 0:
			case 1:
				*dst = form[name][0]
			default:
				return in, ErrInvalidRequest // a repeated field is ambiguous
			}
		}
	}
	if in.Username == "" {
		in.Username = in.Email
	}
	if in.GrantType != "" && in.GrantType != grant {
		return in, ErrUnsupportedGrantType
	}
	return in, nil
}
