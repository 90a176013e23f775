package main

import (
	"runtime/debug"
	"testing"
)

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

// TestPauseGC: the collector is off between pauseGC and its resume, and
// back at the percentage it had after; GOGC in the environment is left
// alone. (Not parallel: the GC percentage is the process's.)
func TestPauseGC(t *testing.T) {
	old := debug.SetGCPercent(77)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	resume := pauseGC()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GC percentage while paused = %d, want -1 (off)", got)
	}
	resume()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GC percentage after resume = %d, want 77", got)
	}

	t.Setenv("GOGC", "150")
	resume = pauseGC()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("with GOGC set, pauseGC changed the percentage to %d", got)
	}
	resume()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("with GOGC set, resume changed the percentage to %d", got)
	}
}
