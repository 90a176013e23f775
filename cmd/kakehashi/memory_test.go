package main

import "testing"

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{64 << 20, 100},
		{gcHeadroom, 100},
		{2 * gcHeadroom, 50},
		{560 << 20, 22}, // a million relationships
		{10 * gcHeadroom, 10},
		{100 * gcHeadroom, 10},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}
