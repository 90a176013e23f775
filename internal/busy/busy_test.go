package busy

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestClaimOnceUntilReleased(t *testing.T) {
	var s Set
	if !s.Claim("a") || s.Claim("a") {
		t.Fatal("a key is claimed once until released")
	}
	if !s.Claim("b") {
		t.Fatal("keys are independent")
	}
	s.Release("a")
	if !s.Claim("a") {
		t.Fatal("a released key can be claimed again")
	}
	s.Release("never claimed") // harmless
}

func TestClaimConcurrently(t *testing.T) {
	var s Set
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Claim("k") {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d goroutines claimed one key", won.Load())
	}
}
