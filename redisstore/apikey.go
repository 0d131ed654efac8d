package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/keygate/auth"
	"github.com/redis/go-redis/v9"
)

// An API key is a hash at prefix+"apikey:"+Hash with fields id, name,
// roles (a JSON array), exp (Unix microseconds, "" for none) and rev, and
// a string at prefix+"apikey-id:"+ID holding the Hash, for RevokeAPIKey.
// Both have a TTL ending at the key's ExpiresAt, or none if it has none.
const (
	apiKeyKey   = "apikey:"
	apiKeyIDKey = "apikey-id:"
)

// errNoAPIKeyID is returned by AddAPIKey for a record without ID or Hash.
var errNoAPIKeyID = errors.New("redisstore: API key record needs an ID and a Hash")

// putAPIKey writes a whole API key record. KEYS[1] record; ARGV id, name,
// roles, exp, rev, ttl in ms (0 for none).
var putAPIKey = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'roles', ARGV[3], 'exp', ARGV[4], 'rev', ARGV[5])
if ARGV[6] ~= '0' then
	redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
return 1`)

// AddAPIKey stores the record k, as [auth.GenerateAPIKey] returns it with
// Name, Roles and ExpiresAt filled in, replacing any record with the same
// Hash. Only k.Hash is stored, never the key. The record lives until
// k.ExpiresAt by the Store's clock (a record already expired is not
// written), or, with no ExpiresAt, until [Store.RevokeAPIKey]. It returns
// an error for a record without ID or Hash.
func (s *Store) AddAPIKey(ctx context.Context, k auth.APIKey) error {
	if k.ID == "" || k.Hash == "" {
		return errNoAPIKeyID
	}
	var ttl int64
	if !k.ExpiresAt.IsZero() {
		if ttl = s.ttl(k.ExpiresAt); ttl == 0 {
			return nil
		}
	}
	roles, err := json.Marshal(k.Roles)
	if err != nil {
		return err
	}
	rev := "0"
	if k.Revoked {
		rev = "1"
	}
	// The ID index first: a record is never left that RevokeAPIKey cannot find.
	if err := s.client.Set(ctx, s.key(apiKeyIDKey, k.ID), k.Hash, time.Duration(ttl)*time.Millisecond).Err(); err != nil {
		return wrap("add API key", err)
	}
	err = putAPIKey.Run(ctx, s.client, []string{s.key(apiKeyKey, k.Hash)},
		k.ID, k.Name, roles, micros(k.ExpiresAt), rev, ttl).Err()
	return wrap("add API key", err)
}

// RevokeAPIKey deletes the API key whose ID is id and reports whether there
// was one. A revoked key is then unknown: [auth.RequireAPIKey] refuses it
// as it refuses any unknown key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (bool, error) {
	idKey := s.key(apiKeyIDKey, id)
	hash, err := s.client.Get(ctx, idKey).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrap("revoke API key", err)
	}
	n, err := s.client.Del(ctx, s.key(apiKeyKey, hash)).Result()
	if err != nil {
		return false, wrap("revoke API key", err)
	}
	if err := s.client.Del(ctx, idKey).Err(); err != nil {
		return false, wrap("revoke API key", err)
	}
	return n == 1, nil
}

// APIKey implements [auth.APIKeyStore]: one HGETALL by hash.
func (s *Store) APIKey(ctx context.Context, hash string) (auth.APIKey, bool, error) {
	v, err := s.client.HGetAll(ctx, s.key(apiKeyKey, hash)).Result()
	if err != nil {
		return auth.APIKey{}, false, wrap("API key", err)
	}
	if len(v) == 0 {
		return auth.APIKey{}, false, nil
	}
	k := auth.APIKey{ID: v["id"], Hash: hash, Name: v["name"], Revoked: v["rev"] == "1"}
	if k.ID == "" {
		return auth.APIKey{}, false, wrap("API key", errMalformed)
	}
	if err := json.Unmarshal([]byte(v["roles"]), &k.Roles); err != nil {
		return auth.APIKey{}, false, wrap("API key", errMalformed)
	}
	if k.ExpiresAt, err = parseMicros(v["exp"]); err != nil {
		return auth.APIKey{}, false, wrap("API key", err)
	}
	return k, true, nil
}
