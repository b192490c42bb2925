package ws

import (
	"testing"

	"github.com/algoauto/algoauto/adapters/bus"
)

// TestViewKeys: subscribers share one encoding only when they see exactly
// the same items.
func TestViewKeys(t *testing.T) {
	h := NewHub(Config{}, Deps{})
	defer h.Close()
	newSub := func(id Identity, roomName string, legacy bool, types ...string) *sub {
		rm, err := parseRoom(roomName)
		if err != nil {
			t.Fatal(err)
		}
		s := &sub{c: &conn{hub: h, id: id}, room: rm, legacy: legacy, types: types}
		s.view = viewKey(s)
		return s
	}
	alice := Identity{UserID: "a", Accounts: []string{"paper-alice", "live-1"}}
	alice2 := Identity{UserID: "a2", Accounts: []string{"live-1", "paper-alice"}}
	bob := Identity{UserID: "b", Accounts: []string{"paper-bob"}}
	admin := Identity{UserID: "root", Admin: true}
	same := [][2]*sub{
		{newSub(alice, "orders", false), newSub(alice2, "orders", false)},
		{newSub(alice, "market:NIFTY", false), newSub(bob, "market:NIFTY", false)},
		{newSub(admin, "orders", false), newSub(Identity{UserID: "root2", Admin: true}, "orders", false)},
	}
	for _, p := range same {
		if p[0].view != p[1].view {
			t.Errorf("%s: %v and %v should share a view", p[0].room.name, p[0].c.id, p[1].c.id)
		}
	}
	differ := [][2]*sub{
		{newSub(alice, "orders", false), newSub(bob, "orders", false)},
		{newSub(admin, "orders", false), newSub(bob, "orders", false)},
		{newSub(alice, "market:NIFTY", false), newSub(alice, "market:NIFTY", true)},
		{newSub(alice, "market:NIFTY", false), newSub(alice, "market:NFO:NIFTY", false)},
		{newSub(admin, "events", false, "OrderFilled"), newSub(admin, "events", false)},
		{newSub(Identity{UserID: "x", Accounts: []string{"a\x00b"}}, "orders", false), newSub(Identity{UserID: "y", Accounts: []string{"a", "b"}}, "orders", false)},
	}
	for i, p := range differ {
		if p[0].view == p[1].view {
			t.Errorf("case %d (%s): views of %v and %v must differ", i, p[0].room.name, p[0].c.id, p[1].c.id)
		}
	}

	// A frame holds only what its view may see.
	items := []bus.Update{
		{Room: "orders", Position: 1, Account: "paper-bob", Key: "o1", Data: []byte(`{}`)},
		{Room: "orders", Position: 2, Account: "paper-alice", Key: "o2", Data: []byte(`{}`)},
	}
	f := newFrame(newSub(alice, "orders", false), items)
	if f == nil || len(f.items) != 1 || f.items[0].Account != "paper-alice" || len(f.msgs) != 1 {
		t.Fatalf("alice's frame: %+v", f)
	}
	if f := newFrame(newSub(Identity{UserID: "c", Accounts: []string{"paper-carol"}}, "orders", false), items); f != nil {
		t.Fatalf("carol sees nothing, got frame %+v", f)
	}
	if f := newFrame(newSub(admin, "orders", false), items); f == nil || len(f.items) != 2 {
		t.Fatalf("admin's frame: %+v", f)
	}
}
