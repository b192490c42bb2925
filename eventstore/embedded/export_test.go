package embedded

import "github.com/algoauto/algoauto/eventstore"

// Flush forces Pebble's memtable into tables, so corruption tests can hit
// table files. Test builds only.
func (s *Store) Flush() error { return s.db.Flush() }

// WriteMark brings the acknowledged-position mark up to the head now.
func (s *Store) WriteMark() error { return s.mark.write(eventstore.Position(s.head.Load())) }
