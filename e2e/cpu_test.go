package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of the CPU times in /proc (USER_HZ, 100 on Linux
// whatever the kernel's own tick).
const userHZ = 100

// cpuUse is CPU time consumed so far, in seconds: by the whole machine
// (every process, the kernel's interrupts included, idle and I/O wait
// excluded), by the gateway's process and by this test process (its
// clients and the baselines run in it).
type cpuUse struct{ all, gateway, self float64 }

// cpuNow reads cpuUse from /proc; a figure it cannot read is 0.
func (w *world) cpuNow() cpuUse {
	u := cpuUse{all: machineCPU(), self: processCPU("self")}
	if w.gw != nil && w.gw.cmd != nil && w.gw.cmd.Process != nil {
		u.gateway = processCPU(strconv.Itoa(w.gw.cmd.Process.Pid))
	}
	return u
}

// since is the CPU consumed from u0 to u.
func (u cpuUse) since(u0 cpuUse) cpuUse {
	return cpuUse{all: u.all - u0.all, gateway: u.gateway - u0.gateway, self: u.self - u0.self}
}

// String says where the CPU went: the gateway, this test process, and
// the rest (the servers: Prosody, Dovecot).
func (u cpuUse) String() string {
	return fmt.Sprintf("%.2f s CPU in all: gateway %.2f s, test process %.2f s, the rest (servers) %.2f s",
		u.all, u.gateway, u.self, u.all-u.gateway-u.self)
}

// machineCPU is the busy time of every CPU, from the first line of
// /proc/stat: user, nice, system, irq, softirq and steal.
func machineCPU() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy / userHZ
}

// processCPU is the user and system time of process pid ("self" for
// this one), from /proc/PID/stat; the command name in parentheses may
// hold spaces, so the fields are counted after its closing one.
func processCPU(pid string) float64 {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After the name: state(0) … utime(11) stime(12).
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / userHZ
}
