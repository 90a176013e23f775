package leader

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// quiet is the tests' logger.
var quiet = slog.New(slog.DiscardHandler)

// campaigner runs one elector in the test process and records its terms.
type campaigner struct {
	e      *Elector
	cancel context.CancelFunc
	done   chan struct{}
	active chan time.Time // when each term began
}

// campaign starts one; inTerm and overlap, when given, count the terms in
// progress across campaigners and record an overlap; became, when given,
// receives the campaigner at the start of each of its terms.
func campaign(t *testing.T, url, instance string, ttl time.Duration, inTerm *atomic.Int32, overlap *atomic.Bool, became ...chan *campaigner) *campaigner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &campaigner{e: New(url, Options{Instance: instance, TTL: ttl, Logger: quiet}), cancel: cancel,
		done: make(chan struct{}), active: make(chan time.Time, 100)}
	go func() {
		defer close(c.done)
		c.e.Run(ctx, func(ctx context.Context) error {
			if inTerm != nil && inTerm.Add(1) > 1 {
				overlap.Store(true)
			}
			c.active <- time.Now()
			for _, b := range became {
				b <- c
			}
			<-ctx.Done()
			if inTerm != nil {
				inTerm.Add(-1)
			}
			return ctx.Err()
		})
	}()
	t.Cleanup(c.stop)
	return c
}

func (c *campaigner) stop() {
	c.cancel()
	<-c.done
}

// TestOneActiveAtATime: of three instances exactly one is active; when it
// stops, another takes over within a few polls, and no two terms ever
// overlap.
func TestOneActiveAtATime(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	var inTerm atomic.Int32
	var overlap atomic.Bool
	became := make(chan *campaigner, 10)
	cs := []*campaigner{
		campaign(t, url, "a", time.Second, &inTerm, &overlap, became),
		campaign(t, url, "b", time.Second, &inTerm, &overlap, became),
		campaign(t, url, "c", time.Second, &inTerm, &overlap, became),
	}
	var terms []int64
	stopped := time.Now()
	for round := range len(cs) {
		var leader *campaigner
		select {
		case leader = <-became:
			t.Logf("round %d: %s active %v after the last one stopped", round, leader.e.o.Instance, time.Since(stopped).Round(time.Millisecond))
			if round > 0 && time.Since(stopped) > time.Second {
				t.Errorf("round %d: taken over %v after the stop", round, time.Since(stopped))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: nobody became active", round)
		}
		time.Sleep(200 * time.Millisecond) // a second one would be active by now
		for _, c := range cs {
			if c != leader && c.e.Valid() {
				t.Fatalf("round %d: %s and %s both active", round, leader.e.o.Instance, c.e.o.Instance)
			}
		}
		if !leader.e.Valid() {
			t.Fatalf("round %d: the active one's term is not valid", round)
		}
		terms = append(terms, leader.e.Status().Term)
		stopped = time.Now()
		leader.stop()
	}
	if overlap.Load() {
		t.Error("two terms overlapped")
	}
	if !slices.IsSorted(terms) || terms[0] < 1 || terms[len(terms)-1] != terms[0]+2 {
		t.Errorf("terms %v; want three consecutive", terms)
	}
}

// TestHelperActiveProcess is the instance the crash tests run in a
// process of its own: it campaigns and, while active, writes "tick
// <unix ns>" every 2 ms as long as its term is valid, which stands for
// sending.
func TestHelperActiveProcess(t *testing.T) {
	url := os.Getenv("LEADER_TEST_CHILD_URL")
	if url == "" {
		t.Skip("run by the crash tests")
	}
	ttl, _ := time.ParseDuration(os.Getenv("LEADER_TEST_CHILD_TTL"))
	e := New(url, Options{Instance: "child", TTL: ttl, Logger: quiet})
	e.Run(context.Background(), func(ctx context.Context) error {
		fmt.Printf("active %d\n", e.Status().Term)
		for ctx.Err() == nil {
			if e.Valid() {
				fmt.Printf("tick %d\n", time.Now().UnixNano())
			}
			time.Sleep(2 * time.Millisecond)
		}
		fmt.Printf("ended %d\n", time.Now().UnixNano())
		return ctx.Err()
	})
}

// child is an instance in a process of its own.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, url string, ttl time.Duration) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperActiveProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), "LEADER_TEST_CHILD_URL="+url, "LEADER_TEST_CHILD_TTL="+ttl.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1<<16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		close(c.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// waitActive waits for the child's first term.
func (c *child) waitActive(t *testing.T) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatal("the child ended before it became active")
			}
			if strings.HasPrefix(l, "active ") {
				return
			}
		case <-timeout:
			t.Fatal("the child did not become active")
		}
	}
}

// TestCrashedActiveIsReplacedWithinASecond: the active instance is
// killed (SIGKILL) five times; each time the standby is active within a
// second (PostgreSQL ends the dead session and its lock at once).
func TestCrashedActiveIsReplacedWithinASecond(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	var took []time.Duration
	for round := range 5 {
		ch := startChild(t, url, 2*time.Second)
		ch.waitActive(t)
		standby := campaign(t, url, "standby", 2*time.Second, nil, nil)
		time.Sleep(100 * time.Millisecond)
		if standby.e.Valid() {
			t.Fatalf("round %d: the standby is active beside the child", round)
		}
		killed := time.Now()
		ch.cmd.Process.Kill()
		select {
		case at := <-standby.active:
			took = append(took, at.Sub(killed))
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the standby did not take over", round)
		}
		standby.stop()
	}
	slices.Sort(took)
	t.Logf("takeover after kill -9: p50 %v, max %v (5 runs)", took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	if took[len(took)-1] > time.Second {
		t.Errorf("takeover took up to %v; want under 1 s", took[len(took)-1])
	}
}

// TestSuspendedActiveSendsNothingAfterTakeover: the active instance is
// suspended (SIGSTOP) for three TTLs. The standby ends its session and
// takes over; when the old one resumes, it sends nothing more: every
// tick it wrote is from before the takeover.
func TestSuspendedActiveSendsNothingAfterTakeover(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	const ttl = 600 * time.Millisecond
	ch := startChild(t, url, ttl)
	ch.waitActive(t)
	standby := campaign(t, url, "standby", ttl, nil, nil)
	time.Sleep(300 * time.Millisecond)
	ch.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	var tookOver time.Time
	select {
	case tookOver = <-standby.active:
	case <-time.After(10 * time.Second):
		t.Fatal("the standby did not take over from the suspended instance")
	}
	t.Logf("taken over %v after the suspension (TTL %v)", tookOver.Sub(stopped).Round(time.Millisecond), ttl)
	// The old instance holds its term for TTL/2 after it sent its last
	// renewal, and renews every TTL/4, so its term ended by TTL/4 after
	// the suspension; the standby waits a whole TTL after that renewal's
	// stamp. A takeover sooner than TTL/4 after the suspension would
	// overlap the old term. (The ticks below check that nothing was sent
	// after the takeover.)
	if d := tookOver.Sub(stopped); d < ttl/4 {
		t.Errorf("taken over after %v, sooner than TTL/4 (%v) after the suspension: the old term could still be valid", d, ttl/4)
	}
	time.Sleep(3*ttl - time.Since(stopped))
	ch.cmd.Process.Signal(syscall.SIGCONT)
	time.Sleep(500 * time.Millisecond)
	ch.cmd.Process.Kill()
	var ticks, late int
	var ended bool
	for l := range ch.lines {
		switch {
		case strings.HasPrefix(l, "tick "):
			ns, _ := strconv.ParseInt(strings.TrimPrefix(l, "tick "), 10, 64)
			ticks++
			if time.Unix(0, ns).After(tookOver) {
				late++
			}
		case strings.HasPrefix(l, "ended "):
			ended = true
		}
	}
	if ticks == 0 {
		t.Fatal("the child never ticked")
	}
	if late > 0 {
		t.Errorf("the suspended instance sent %d times after the takeover", late)
	}
	if !ended {
		t.Error("the resumed instance did not end its term")
	}
	if !standby.e.Valid() {
		t.Error("the standby lost its term when the old instance resumed")
	}
}

// TestPostgresRestart: the database restarts under the active instance;
// its term ends (it cannot renew), and an instance is active again once
// the database is back.
func TestPostgresRestart(t *testing.T) {
	pg := testenv.StartPostgres(t)
	url := pg.NewDatabase(t)
	a := campaign(t, url, "a", time.Second, nil, nil)
	select {
	case <-a.active:
	case <-time.After(5 * time.Second):
		t.Fatal("nobody became active")
	}
	pg.Restart(t)
	// The restart ended the session: the term ended, and a new one began
	// once the database was back.
	select {
	case <-a.active:
	case <-time.After(15 * time.Second):
		t.Fatal("no instance was active again after the restart")
	}
	if st := a.e.Status(); st.State != Active || st.Term != 2 {
		t.Errorf("after the restart: %+v; want active in term 2", st)
	}
}

// TestStandbyKnowsTheActiveInstance: a standby's Status names the active
// instance and the address it gave, and names the new one after a
// takeover; the active instance names itself.
func TestStandbyKnowsTheActiveInstance(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	run := func(instance string) (*Elector, context.CancelFunc, chan struct{}) {
		ctx, cancel := context.WithCancel(context.Background())
		e := New(url, Options{Instance: instance, Address: "http://" + instance + ".corp.test:8765", TTL: time.Second, Logger: quiet})
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		}()
		t.Cleanup(func() { cancel(); <-done })
		return e, cancel, done
	}
	a, stopA, doneA := run("a")
	waitFor(t, "a active", func() bool { return a.Valid() })
	b, _, _ := run("b")
	want := Leader{Instance: "a", Address: "http://a.corp.test:8765", Term: a.Status().Term}
	if got := a.Status().Leader; got != want {
		t.Fatalf("the active instance's leader: %+v, want %+v", got, want)
	}
	waitFor(t, "b sees a", func() bool { return b.Status().Leader == want })
	if b.Valid() || b.Status().State != Standby {
		t.Fatalf("b: %+v", b.Status())
	}
	stopA()
	<-doneA
	waitFor(t, "b active", func() bool { return b.Valid() })
	if got := b.Status().Leader; got.Instance != "b" || got.Address != "http://b.corp.test:8765" || got.Term != want.Term+1 {
		t.Fatalf("after the takeover, b's leader: %+v", got)
	}
}

// TestFailingActiveWorkBacksOff: an instance whose active work fails at
// once (a network it cannot connect, say) does not try again every poll:
// it waits longer after each failure, with the lock free meanwhile, so
// another instance can take over.
func TestFailingActiveWorkBacksOff(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	var tries atomic.Int32
	e := New(url, Options{Instance: "failing", TTL: time.Second, Logger: quiet})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(context.Context) error { tries.Add(1); return fmt.Errorf("cannot connect") })
	}()
	time.Sleep(1600 * time.Millisecond)
	// Every poll (50 ms) would be about 30 tries; backing off from 100 ms
	// and doubling is 4 or 5 (at 0, 0.1, 0.3, 0.7 and 1.5 s, plus the
	// round trips).
	if n := tries.Load(); n < 2 || n > 6 {
		t.Errorf("the failing work was tried %d times in 1.6 s, want 2 to 6", n)
	}
	// Meanwhile the lock is free: a healthy instance takes over.
	healthy := campaign(t, url, "healthy", time.Second, nil, nil)
	select {
	case <-healthy.active:
	case <-time.After(10 * time.Second):
		t.Fatal("the healthy instance never became active beside the failing one")
	}
	cancel()
	<-done
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10 s", what)
}
