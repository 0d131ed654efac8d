package auth

import (
	"context"
	"time"
)

// RefreshFamily is the server-side state of the refresh tokens of one login.
// Only IDs are kept, never a usable token.
type RefreshFamily struct {
	// ID identifies the family; its tokens carry it in the "fam" claim.
	ID string
	// UserID is the subject of the family's tokens.
	UserID string
	// Current is the ID ("jti") of the one refresh token that may be used.
	Current string
	// CreatedAt is the login that started the family.
	CreatedAt time.Time
	// Previous is the token Current replaced, and RotatedAt when: for the
	// optional grace window.
	Previous  string
	RotatedAt time.Time
	// ExpiresAt is the family's absolute limit: no rotation extends it.
	ExpiresAt time.Time
	// Revoked families accept no token.
	Revoked bool
}

// RefreshStore keeps refresh-token families. Each method is atomic on its
// own; the library builds rotation and reuse detection on Rotate's
// compare-and-swap. Every method takes the time from the caller, so stores
// need no clock.
type RefreshStore interface {
	// Create records a new family.
	Create(ctx context.Context, f RefreshFamily) error
	// Rotate replaces the family's Current by next, atomically, if and only
	// if Current equals current, the family is not revoked and now is before
	// ExpiresAt; it then sets Previous to current and RotatedAt to now. It
	// returns the family as it is after the call, found false if there is
	// none (or it has expired and was removed), and whether it swapped. Of N
	// concurrent calls with the same current, at most one swaps.
	Rotate(ctx context.Context, familyID, current, next string, now time.Time) (f RefreshFamily, found, swapped bool, err error)
	// Revoke marks the family revoked. Revoking an unknown or revoked
	// family is not an error.
	Revoke(ctx context.Context, familyID string) error
	// RevokeUser revokes every family of the user.
	RevokeUser(ctx context.Context, userID string) error
}
