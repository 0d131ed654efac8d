package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keygate/auth"
)

// APIKeys is an auth.APIKeyStore in the api_keys table: keys are kept as
// their SHA-256 hashes only (auth.HashAPIKey), never as the key.
type APIKeys struct{ db *DB }

var _ auth.APIKeyStore = APIKeys{}

// APIKeys returns the API-key store.
func (db *DB) APIKeys() APIKeys { return APIKeys{db} }

const apiKeyColumns = `id, hash, name, roles, expires_at, revoked`

func scanAPIKey(scan func(...any) error) (auth.APIKey, error) {
	var k auth.APIKey
	var roles string
	var expires int64
	err := scan(&k.ID, &k.Hash, &k.Name, &roles, &expires, &k.Revoked)
	if roles != "" {
		k.Roles = strings.Split(roles, " ")
	}
	k.ExpiresAt = fromMillis(expires)
	return k, err
}

// APIKey implements auth.APIKeyStore: the key whose hash is hash. A hash
// that is not storable text finds nothing.
func (s APIKeys) APIKey(ctx context.Context, hash string) (auth.APIKey, bool, error) {
	if !storable(hash) {
		return auth.APIKey{}, false, nil
	}
	k, err := scanAPIKey(s.db.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.APIKey{}, false, nil
	}
	if err != nil {
		return auth.APIKey{}, false, classify(err)
	}
	return k, true, nil
}

// Create stores a key's record, as auth.GenerateAPIKey returns it. Its
// roles must not contain spaces (they are stored space-separated); it
// returns [ErrInvalidText] for text the database cannot store, and an
// error if the ID or hash is taken.
func (s APIKeys) Create(ctx context.Context, k auth.APIKey) error {
	for _, r := range k.Roles {
		if r == "" || strings.ContainsAny(r, " ") {
			return errors.New("sqlstore: API key roles must be non-empty and without spaces")
		}
	}
	roles := strings.Join(k.Roles, " ")
	for _, v := range []string{k.ID, k.Hash, k.Name, roles} {
		if !storable(v) {
			return ErrInvalidText
		}
	}
	_, err := s.db.exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Hash, k.Name, roles, millis(k.ExpiresAt), k.Revoked, time.Now().UnixMilli())
	return err
}

// List returns every key's record, oldest first.
func (s APIKeys) List(ctx context.Context) ([]auth.APIKey, error) {
	rows, err := s.db.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []auth.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows.Scan)
		if err != nil {
			return nil, classify(err)
		}
		keys = append(keys, k)
	}
	return keys, classify(rows.Err())
}

// Revoke revokes the key with the given ID and reports whether there was
// one. Every instance sharing the database refuses it from then on.
func (s APIKeys) Revoke(ctx context.Context, id string) (bool, error) {
	if !storable(id) {
		return false, nil
	}
	n, err := affected(s.db.exec(ctx, `UPDATE api_keys SET revoked = TRUE WHERE id = ?`, id))
	return n == 1, err
}
