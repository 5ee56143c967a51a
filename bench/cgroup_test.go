package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeCgroups lays out a cgroup v1 mount in a temporary directory: the
// cpu hierarchy, and cpuacct apart from it unless together. Where the
// kernel makes a group's control files on mkdir, writes make them here,
// and remove takes them with the directory.
func fakeCgroups(t *testing.T, together bool) cgroupRoot {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cgroup.procs": ""}
	if together {
		files["cpu/cpuacct.usage"] = "0\n"
	} else {
		files["cpuacct/cpuacct.usage"] = "0\n"
		files["cpuacct/cgroup.procs"] = ""
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cgroupRoot{dir: dir, rmdir: os.RemoveAll}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestCPUGroupLifecycle(t *testing.T) {
	for _, together := range []bool{false, true} {
		root := fakeCgroups(t, together)
		g, err := root.makeGroup("stock-bench-1", 0.25)
		if err != nil {
			t.Fatal(err)
		}
		cpu := filepath.Join(root.dir, "cpu", "stock-bench-1")
		acct := filepath.Join(root.dir, "cpuacct", "stock-bench-1")
		if together {
			acct = cpu
		}
		if g.cpu != cpu || g.acct != acct {
			t.Fatalf("together %v: group dirs %s and %s, want %s and %s", together, g.cpu, g.acct, cpu, acct)
		}
		if p, q := readFile(t, filepath.Join(cpu, "cpu.cfs_period_us")), readFile(t, filepath.Join(cpu, "cpu.cfs_quota_us")); p != "100000" || q != "25000" {
			t.Fatalf("period %s, quota %s; want 100000 and 25000", p, q)
		}
		if err := g.add(4242); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{cpu, acct} {
			if got := readFile(t, filepath.Join(dir, "cgroup.procs")); got != "4242" {
				t.Fatalf("%s/cgroup.procs = %q, want 4242", dir, got)
			}
		}

		// What the kernel would count.
		if err := os.WriteFile(filepath.Join(acct, "cpuacct.usage"), []byte("1500000000\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		stat := "nr_periods 40\nnr_throttled 30\nthrottled_time 123456\nnr_bursts 0\nburst_time 0\n"
		if err := os.WriteFile(filepath.Join(cpu, "cpu.stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := g.sample()
		if err != nil {
			t.Fatal(err)
		}
		if want := (cpuSample{usage: 1500 * time.Millisecond, periods: 40, throttled: 30}); s != want {
			t.Fatalf("sample %+v, want %+v", s, want)
		}

		// remove moves what is left to the root group, then removes the group.
		if err := g.remove(); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{cpu, acct} {
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("%s still there after remove: %v", dir, err)
			}
			if got := readFile(t, filepath.Join(filepath.Dir(dir), "cgroup.procs")); got != "4242" {
				t.Fatalf("root group of %s holds %q, want the moved 4242", dir, got)
			}
		}
		if err := g.remove(); err != nil {
			t.Fatalf("second remove: %v", err)
		}
	}
}

func TestCPUGroupStale(t *testing.T) {
	root := fakeCgroups(t, false)
	stale := filepath.Join(root.dir, "cpuacct", "stock-bench-2")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	// Empty: removed and made again.
	g, err := root.makeGroup("stock-bench-2", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if q := readFile(t, filepath.Join(g.cpu, "cpu.cfs_quota_us")); q != "50000" {
		t.Fatalf("quota %s, want 50000", q)
	}
	if err := g.add(7); err != nil {
		t.Fatal(err)
	}
	// Still holding a process: refused, and the group left as it was.
	if _, err := root.makeGroup("stock-bench-2", 0.5); err == nil || !strings.Contains(err.Error(), "[7]") {
		t.Fatalf("making a group over one that holds a process: %v, want an error naming it", err)
	}
	if got := readFile(t, filepath.Join(g.acct, "cgroup.procs")); got != "7" {
		t.Fatalf("the refused group's processes: %q", got)
	}
	if err := g.remove(); err != nil {
		t.Fatal(err)
	}
}

func TestCPUGroupErrors(t *testing.T) {
	root := fakeCgroups(t, false)
	if _, err := root.makeGroup("stock-bench-1", 0.005); err == nil || !strings.Contains(err.Error(), "minimum") {
		t.Fatalf("a quota under 1 ms: %v", err)
	}
	if err := os.Remove(filepath.Join(root.dir, "cpuacct", "cpuacct.usage")); err != nil {
		t.Fatal(err)
	}
	if _, err := root.makeGroup("stock-bench-1", 0.25); err == nil || !strings.Contains(err.Error(), "cpuacct") {
		t.Fatalf("without cpuacct: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root.dir, "cpu"))
	if slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.IsDir() }) {
		t.Fatalf("a failed makeGroup left %v", entries)
	}
	empty := cgroupRoot{dir: t.TempDir(), rmdir: os.RemoveAll}
	err := empty.check()
	if err == nil || !strings.Contains(err.Error(), "needs root") || !strings.Contains(err.Error(), "cgroup v1 cpu controller") {
		t.Fatalf("check without cgroup v1: %v", err)
	}
	if err := fakeCgroups(t, true).check(); err != nil {
		t.Fatalf("check on a writable mount: %v", err)
	}
}
