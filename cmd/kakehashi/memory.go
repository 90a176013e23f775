package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
)

// gcHeadroom is how far the heap may grow past what is live before the
// next collection, once a large identity state is loaded (see
// settleMemory).
const gcHeadroom = 128 << 20

// pauseGC turns the collector off while an instance opens and returns
// what turns it back to the percentage it had. The load is presized to
// the state it reads and makes little garbage that outlives a row, but
// the heap it grows sets off a collection midway that marks what was
// read so far: at a million relationships some 650 MB, 0.4 s of a core
// during a start that has two. Switched off, the load's peak is about
// 20 MiB higher; settleMemory collects right after. GOGC in the
// environment is the operator's and is left alone; with GOMEMLIMIT the
// collector still runs near that limit.
func pauseGC() (resume func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(prev) }
}

// settleMemory runs once the instance's state is loaded. It returns to
// the operating system what loading left behind: reading a million
// relationships makes about as much garbage as it keeps, which Go's
// scavenger would otherwise hand back only slowly, if ever (it keeps
// what the heap may grow to).
//
// It also bounds that growth. Go's default (GOGC=100) lets the heap grow
// to twice what is live before it collects: with a million
// relationships (about 560 MiB live) that is over 1.1 GiB resident under
// traffic, nearly all of it garbage. Once the live heap is over
// gcHeadroom, the GC percentage is set so the heap grows by gcHeadroom
// at most (never below 10 %), which costs a collection per gcHeadroom
// of allocation instead of one per live heap. A smaller state keeps
// Go's default. GOGC or GOMEMLIMIT in the environment are the
// operator's choice and are left alone.
func settleMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := s[0].Value.Uint64()
	if pct := gcPercent(live); pct < 100 {
		debug.SetGCPercent(pct)
		log.Info("heap growth bounded for a large state", "live_mib", live>>20, "gogc", pct)
	}
}

// gcPercent is the GC percentage that lets a heap with live bytes live
// grow by gcHeadroom: Go's default 100 up to gcHeadroom, down to 10 for
// a live heap ten times larger or more.
func gcPercent(live uint64) int {
	if live <= gcHeadroom {
		return 100
	}
	return max(10, int(100*gcHeadroom/live))
}
