package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// MaxStateBytes bounds one service's stored state.
const MaxStateBytes = 1 << 20

// SaveState stores the state of service (JSON, for example a marshalled
// controller.State), replacing the previous one. It returns once the state is
// on disk.
func (s *Store) SaveState(service string, state []byte) error {
	if !validName(service) {
		return fmt.Errorf("store: save state: %w: service %q is not a valid name", ErrInvalid, service)
	}
	if len(state) > MaxStateBytes {
		return fmt.Errorf("store: save state %s: %w: %d bytes, more than %d", service, ErrInvalid, len(state), MaxStateBytes)
	}
	if !json.Valid(state) {
		return fmt.Errorf("store: save state %s: %w: not valid JSON", service, ErrInvalid)
	}
	err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStates).Put([]byte(service), state)
	})
	if err != nil {
		return fmt.Errorf("store: save state %s: %w", service, err)
	}
	return nil
}

// LoadState returns the stored state of service; ok is false when there is
// none. A stored state that is not valid JSON is skipped (counted) and
// reported as none.
func (s *Store) LoadState(service string) (state []byte, ok bool, err error) {
	if !validName(service) {
		return nil, false, fmt.Errorf("store: load state: %w: service %q is not a valid name", ErrInvalid, service)
	}
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStates).Get([]byte(service))
		if v == nil {
			return nil
		}
		if !json.Valid(v) {
			s.skip("states", []byte(service), errors.New("state is not valid JSON"))
			return nil
		}
		state, ok = slices.Clone(v), true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: load state %s: %w", service, err)
	}
	return state, ok, nil
}

// LoadAllStates returns every stored state by service. Damaged entries are
// skipped (counted).
func (s *Store) LoadAllStates() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStates).ForEach(func(k, v []byte) error {
			if !validName(string(k)) || v == nil || !json.Valid(v) {
				s.skip("states", k, errors.New("bad service name or state not valid JSON"))
				return nil
			}
			out[string(k)] = slices.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load states: %w", err)
	}
	return out, nil
}

// DeleteState removes the state of service (a service no longer in the
// config). Deleting a missing state does nothing.
func (s *Store) DeleteState(service string) error {
	if !validName(service) {
		return fmt.Errorf("store: delete state: %w: service %q is not a valid name", ErrInvalid, service)
	}
	err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStates).Delete([]byte(service))
	})
	if err != nil {
		return fmt.Errorf("store: delete state %s: %w", service, err)
	}
	return nil
}
