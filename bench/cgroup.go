package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A CPU quota per process, by cgroup v1: a group in the cpu hierarchy
// (<root>/cpu/<name>) whose CFS bandwidth is quota×period of CPU time per
// period, and the same group in the cpuacct hierarchy (<root>/cpuacct/<name>,
// or the cpu one itself where the two controllers are mounted together) to
// read the CPU time its processes used. A process is moved into both by
// writing its pid to their cgroup.procs; its threads, and those it makes
// later, follow.
//
// Groups are made with a name of the bench's own (stock-bench-<n>) and
// removed by remove, which first moves any process still inside back to the
// root group, so a failed or interrupted run leaves none behind. A group of
// that name left by an earlier run that died is removed and made again if
// it is empty, and refused if processes are still in it.

// defaultCgroupRoot is where cgroup v1 hierarchies are mounted.
const defaultCgroupRoot = "/sys/fs/cgroup"

// cfsPeriod is the CFS bandwidth period of every group made.
const cfsPeriod = 100 * time.Millisecond

// cgroupRoot is the mount point of the cgroup v1 hierarchies; rmdir
// removes a group's directory (syscall rmdir on the real file system, where
// the control files vanish with it).
type cgroupRoot struct {
	dir   string
	rmdir func(string) error
}

// systemCgroups is the machine's cgroup v1 mount.
func systemCgroups() cgroupRoot { return cgroupRoot{dir: defaultCgroupRoot, rmdir: os.Remove} }

// hierarchies returns the directories of the cpu and cpuacct hierarchies,
// or an error saying what is missing.
func (r cgroupRoot) hierarchies() (cpu, acct string, err error) {
	cpu = filepath.Join(r.dir, "cpu")
	if _, err := os.Stat(filepath.Join(cpu, "cpu.cfs_quota_us")); err != nil {
		return "", "", fmt.Errorf("no cgroup v1 cpu controller at %s (cgroup v2 alone is not supported): %w", cpu, err)
	}
	if _, err := os.Stat(filepath.Join(cpu, "cpuacct.usage")); err == nil {
		return cpu, cpu, nil
	}
	acct = filepath.Join(r.dir, "cpuacct")
	if _, err := os.Stat(filepath.Join(acct, "cpuacct.usage")); err != nil {
		return "", "", fmt.Errorf("no cgroup v1 cpuacct controller at %s or %s: %w", cpu, acct, err)
	}
	return cpu, acct, nil
}

// check makes and removes a probe group, so that a machine where cgroup v1
// is missing or not writable (not root, read-only mount) fails before any
// measurement starts.
func (r cgroupRoot) check() error {
	g, err := r.makeGroup("stock-bench-probe", 1)
	if err != nil {
		return fmt.Errorf("the scaling scenario confines each responder with a cgroup v1 CPU quota, and needs root on a machine with cgroup v1's cpu and cpuacct controllers mounted writable under %s: %w", r.dir, err)
	}
	return g.remove()
}

// cpuGroup is one group made by makeGroup.
type cpuGroup struct {
	root      cgroupRoot
	name      string
	cpu, acct string // the group's directories (the same when co-mounted)
	parents   [2]string
}

// makeGroup makes the group name with a CPU quota of quota CPUs (0.25: a
// quarter of one CPU's time per period). On error nothing is left behind.
func (r cgroupRoot) makeGroup(name string, quota float64) (*cpuGroup, error) {
	quotaUS := int64(math.Round(quota * float64(cfsPeriod/time.Microsecond)))
	if quotaUS < 1000 {
		return nil, fmt.Errorf("a CPU quota of %g is under the kernel's minimum of 1 ms per %v period", quota, cfsPeriod)
	}
	cpuRoot, acctRoot, err := r.hierarchies()
	if err != nil {
		return nil, err
	}
	g := &cpuGroup{root: r, name: name, cpu: filepath.Join(cpuRoot, name), acct: filepath.Join(acctRoot, name),
		parents: [2]string{cpuRoot, acctRoot}}
	for _, dir := range g.dirs() {
		if err := r.clearStale(dir); err != nil {
			return nil, err
		}
	}
	for _, dir := range g.dirs() {
		if err := os.Mkdir(dir, 0o755); err != nil {
			_ = g.remove()
			return nil, err
		}
	}
	for _, f := range []struct {
		file  string
		value int64
	}{
		{"cpu.cfs_period_us", int64(cfsPeriod / time.Microsecond)},
		{"cpu.cfs_quota_us", quotaUS},
	} {
		if err := writeValue(filepath.Join(g.cpu, f.file), f.value); err != nil {
			_ = g.remove()
			return nil, err
		}
	}
	return g, nil
}

// clearStale removes dir if an earlier run left it empty, and refuses to
// go on if processes are still in it.
func (r cgroupRoot) clearStale(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s, left by an earlier run, still holds processes %v: stop them first", dir, pids)
	}
	return r.rmdir(dir)
}

// dirs are the group's directories, one per hierarchy.
func (g *cpuGroup) dirs() []string {
	if g.cpu == g.acct {
		return []string{g.cpu}
	}
	return []string{g.cpu, g.acct}
}

// add moves process pid (all its threads) into the group.
func (g *cpuGroup) add(pid int) error {
	for _, dir := range g.dirs() {
		if err := writeValue(filepath.Join(dir, "cgroup.procs"), int64(pid)); err != nil {
			return fmt.Errorf("cgroup %s: add %d: %w", dir, pid, err)
		}
	}
	return nil
}

// cpuSample is what a group has used so far.
type cpuSample struct {
	usage     time.Duration // CPU time of its processes (cpuacct.usage)
	periods   int64         // CFS periods in which they ran (cpu.stat nr_periods)
	throttled int64         // of those, periods in which they used up the quota (nr_throttled)
}

// sample reads the group's counters.
func (g *cpuGroup) sample() (cpuSample, error) {
	var s cpuSample
	b, err := os.ReadFile(filepath.Join(g.acct, "cpuacct.usage"))
	if err != nil {
		return s, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(g.acct, "cpuacct.usage"), err)
	}
	s.usage = time.Duration(ns)
	b, err = os.ReadFile(filepath.Join(g.cpu, "cpu.stat"))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(b)) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		v, _ := strconv.ParseInt(value, 10, 64)
		switch key {
		case "nr_periods":
			s.periods = v
		case "nr_throttled":
			s.throttled = v
		}
	}
	return s, nil
}

// remove moves any process still in the group to the root group and
// removes the group's directories. It may be called more than once.
func (g *cpuGroup) remove() error {
	var errs []error
	dirs := g.dirs()
	for i, dir := range dirs {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			continue
		}
		pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			errs = append(errs, err)
		}
		for _, pid := range pids {
			if err := writeValue(filepath.Join(g.parents[i], "cgroup.procs"), int64(pid)); err != nil {
				errs = append(errs, fmt.Errorf("cgroup %s: move %d out: %w", dir, pid, err))
			}
		}
		// A process that has just exited can keep the group busy a moment.
		var rerr error
		for range 50 {
			if rerr = g.root.rmdir(dir); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
				rerr = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if rerr != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, rerr))
		}
	}
	return errors.Join(errs...)
}

// readPids reads a cgroup.procs file; a missing one holds none.
func readPids(path string) ([]int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			pid, err := strconv.Atoi(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a pid", path, t)
			}
			pids = append(pids, pid)
		}
	}
	return pids, sc.Err()
}

// writeValue writes v to a control file, as one write.
func writeValue(path string, v int64) error {
	return os.WriteFile(path, []byte(strconv.FormatInt(v, 10)+"\n"), 0o644)
}
