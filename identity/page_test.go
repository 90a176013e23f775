package identity

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPageSpan checks span against a linear scan, on pages with many equal
// fingerprints and fingerprints at the ends of the range.
func TestPageSpan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		for range 20 {
			fps := make([]uint32, n)
			for i := range fps {
				switch r.IntN(4) {
				case 0:
					fps[i] = 0
				case 1:
					fps[i] = ^uint32(0)
				case 2:
					fps[i] = uint32(r.IntN(4)) << 30
				default:
					fps[i] = r.Uint32()
				}
			}
			slices.Sort(fps)
			p := &page[Contact]{fps: fps}
			probes := append(slices.Clone(fps), 0, 1, ^uint32(0), ^uint32(0)-1, 1<<31, r.Uint32())
			for _, fp := range probes {
				i, j := p.span(fp)
				wi, _ := slices.BinarySearch(fps, fp)
				wj := wi
				for wj < n && fps[wj] == fp {
					wj++
				}
				if i != wi || j != wj {
					t.Fatalf("span(%08x) of %08x = [%d, %d), want [%d, %d)", fp, fps, i, j, wi, wj)
				}
			}
		}
	}
}

// TestPageMerge checks that merging changes into a hashed page keeps it
// sorted by fingerprint, with each item under its own fingerprint.
func TestPageMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := &pageChanges[Contact]{t: &contactsTable}
	fpOf := map[*Contact]uint32{}
	newItem := func() *Contact {
		it := &Contact{}
		fpOf[it] = uint32(r.IntN(64)) << 26 // many equal fingerprints
		return it
	}
	var p *page[Contact]
	live := map[*Contact]bool{}
	for range 300 {
		ch := &pageChange[Contact]{}
		if p != nil {
			for _, it := range p.items {
				if r.IntN(4) == 0 {
					ch.remove = append(ch.remove, it)
					delete(live, it)
				}
			}
		}
		for range r.IntN(30) {
			it := newItem()
			ch.add = append(ch.add, it)
			ch.addFPs = append(ch.addFPs, fpOf[it])
			live[it] = true
		}
		p = c.merge("0000", p, ch)
		if len(p.items) != len(live) || len(p.fps) != len(p.items) {
			t.Fatalf("page has %d items and %d fingerprints, want %d", len(p.items), len(p.fps), len(live))
		}
		for i, it := range p.items {
			if !live[it] || p.fps[i] != fpOf[it] || (i > 0 && p.fps[i-1] > p.fps[i]) {
				t.Fatalf("item %d: live %v, fingerprint %08x (own %08x), page fingerprints %08x", i, live[it], p.fps[i], fpOf[it], p.fps)
			}
		}
	}
}

// TestSortRelsByID checks the integer-keyed sort against sorting by
// string, with IDs of every length around the eight-byte key.
func TestSortRelsByID(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 255, 256, 3000} {
		rels := make([]*Relationship, n)
		for i := range rels {
			b := make([]byte, r.IntN(12))
			for j := range b {
				b[j] = "\x00ab\xffr-"[r.IntN(6)]
			}
			rels[i] = &Relationship{ID: string(b)}
		}
		want := slices.Clone(rels)
		slices.SortStableFunc(want, byRelID)
		sortRelsByID(rels)
		for i := range rels {
			if rels[i].ID != want[i].ID {
				t.Fatalf("n=%d: position %d holds %q, want %q", n, i, rels[i].ID, want[i].ID)
			}
		}
	}
}
