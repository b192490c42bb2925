package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// Snapshot is a projection's state at a position. EventID is the id of the
// event at Position (uuid.Nil at position 0), so a snapshot taken over one
// log is never applied to another.
type Snapshot struct {
	Name     string    `json:"name"`
	Version  int       `json:"version"`
	Position uint64    `json:"position"`
	EventID  uuid.UUID `json:"event_id"`
	SHA256   string    `json:"sha256"` // of State: the projection's state hash
	State    []byte    `json:"-"`
}

// ErrNoSnapshot means no snapshot is stored under the name.
var ErrNoSnapshot = errors.New("projections: no snapshot")

// ErrBadSnapshot means a stored snapshot is unreadable or its checksum does
// not match; it is ignored and the projection rebuilds.
var ErrBadSnapshot = errors.New("projections: corrupt snapshot")

// FileSnapshots keeps one snapshot per projection in a directory, as
// <dir>/<name>.snapshot: a JSON header line, then the state bytes. Saves
// are atomic (temporary file, fsync, rename, fsync of the directory).
type FileSnapshots struct {
	dir string
}

// NewFileSnapshots returns a snapshot store in dir, creating it if needed.
func NewFileSnapshots(dir string) (*FileSnapshots, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("projections: snapshot dir: %w", err)
	}
	return &FileSnapshots{dir: dir}, nil
}

func (f *FileSnapshots) path(name string) string { return filepath.Join(f.dir, name+".snapshot") }

// Load returns the stored snapshot of name, ErrNoSnapshot, or an error
// wrapping ErrBadSnapshot when its header or checksum is wrong.
func (f *FileSnapshots) Load(_ context.Context, name string) (Snapshot, error) {
	b, err := os.ReadFile(f.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return Snapshot{}, ErrNoSnapshot
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("projections: read snapshot %s: %w", name, err)
	}
	head, state, ok := bytes.Cut(b, []byte{'\n'})
	var s Snapshot
	if !ok || json.Unmarshal(head, &s) != nil || s.Name != name {
		return Snapshot{}, fmt.Errorf("snapshot %s: unreadable header: %w", name, ErrBadSnapshot)
	}
	if got := hashBytes(state); got != s.SHA256 {
		return Snapshot{}, fmt.Errorf("snapshot %s: checksum %s, header says %s: %w", name, got, s.SHA256, ErrBadSnapshot)
	}
	s.State = state
	return s, nil
}

// Save stores s (its SHA256 is computed here) in place of the previous one.
func (f *FileSnapshots) Save(_ context.Context, s Snapshot) error {
	s.SHA256 = hashBytes(s.State)
	head, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("projections: snapshot header: %w", err)
	}
	tmp, err := os.CreateTemp(f.dir, s.Name+".snapshot.tmp*")
	if err != nil {
		return fmt.Errorf("projections: save snapshot %s: %w", s.Name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.Write(append(append(head, '\n'), s.State...))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path(s.Name))
	}
	if err == nil {
		err = syncDir(f.dir)
	}
	if err != nil {
		return fmt.Errorf("projections: save snapshot %s: %w", s.Name, err)
	}
	return nil
}

// Delete removes the snapshot of name, if any.
func (f *FileSnapshots) Delete(_ context.Context, name string) error {
	if err := os.Remove(f.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("projections: delete snapshot %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
