package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stockstate/stock/internal/testenv"
)

const testVersion = "v0.0.0-test"

var (
	buildOnce sync.Once
	binDir    string // removed by TestMain
	buildErr  error
)

// binary builds cmd/responder and cmd/loadgen once per test run, with
// testVersion set by -ldflags as a release would, and returns the path of
// the named one.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "responder-test-bin")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", binDir+string(filepath.Separator),
			"-ldflags", "-X main.version="+testVersion, ".", "../loadgen")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return filepath.Join(binDir, name)
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// execute runs the binary with args and only env in its environment, for
// at most a minute.
func execute(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{}, env...) // not nil: nil would pass the test's own environment
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return r
}

// errorLines are the lines of stderr that are the program's own error
// messages (not logs).
func errorLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "responder: ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestCLI runs the built binary as a user would and checks its manners:
// exit codes, where output goes, and one clear line per error.
func TestCLI(t *testing.T) {
	bin := binary(t, "responder")

	t.Run("help", func(t *testing.T) {
		r := execute(t, bin, nil, "-h")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("-h: exit %d, stderr %q", r.code, r.stderr)
		}
		newFlagSet(&Options{}).VisitAll(func(f *flag.Flag) {
			if !strings.Contains(r.stdout, "  -"+f.Name+" ") && !strings.Contains(r.stdout, "  -"+f.Name+"\n") {
				t.Errorf("-h does not list -%s", f.Name)
			}
			if hasEnv(f.Name) && !strings.Contains(r.stdout, "[$"+envName(f.Name)+"]") {
				t.Errorf("-h does not name $%s", envName(f.Name))
			}
		})
	})

	t.Run("version", func(t *testing.T) {
		r := execute(t, bin, nil, "-version")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "responder "+testVersion+" go") || strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("-version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"-bogus"}, "responder: flag provided but not defined: -bogus"},
		{"bad value", nil, []string{"-lease-ttl", "soon"}, `responder: invalid value "soon" for flag -lease-ttl`},
		{"bad environment", []string{"STOCK_CONNECT_TIMEOUT=never"}, nil, `responder: invalid value "never" for STOCK_CONNECT_TIMEOUT`},
		{"argument", nil, []string{"serve"}, `responder: unexpected argument "serve"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := execute(t, bin, tc.env, tc.args...)
			if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line starting %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}

	srv := testenv.NATS(t)
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"nats unreachable", []string{"STOCK_NATS=nats://" + testenv.FreeAddr(t), "STOCK_ETCD=" + testenv.FreeAddr(t)},
			"responder: NATS at nats://127.0.0.1:"},
		{"etcd unreachable", []string{"STOCK_NATS=" + srv.ClientURL(), "STOCK_ETCD=" + testenv.FreeAddr(t)},
			"responder: etcd at 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := execute(t, bin, tc.env, "-connect-timeout", "1s", "-http", "")
			lines := errorLines(r.stderr)
			if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) ||
				!strings.Contains(lines[0], "not reachable within -connect-timeout 1s") {
				t.Fatalf("exit %d, error lines %q; want exit 1 and one line starting %q\nstderr:\n%s", r.code, lines, tc.want, r.stderr)
			}
			if !strings.Contains(r.stderr, "retrying") {
				t.Errorf("no retry was logged:\n%s", r.stderr)
			}
			if r.took < time.Second || r.took > 15*time.Second {
				t.Errorf("gave up after %v, want about 1s", r.took)
			}
		})
	}

	t.Run("SIGTERM", func(t *testing.T) {
		httpAddr := testenv.FreeAddr(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-nats-listen", testenv.FreeAddr(t), "-etcd-listen", testenv.FreeAddr(t),
			"-etcd-peer-listen", testenv.FreeAddr(t), "-data-dir", t.TempDir(), "-http", httpAddr, "-lease-ttl", "2s")
		cmd.Env = []string{}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waited := false
		defer func() {
			if !waited {
				cmd.Process.Kill()
				cmd.Wait()
			}
		}()
		testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			code, body, err := tryGet(httpAddr, "/readyz")
			if err != nil {
				return err
			}
			if code != 200 || strings.TrimSpace(body) != "leading" {
				return errors.New(body)
			}
			return nil
		})
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		waited = true
		if err != nil {
			t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "resigned") {
			t.Errorf("no graceful stop in the log:\n%s", stderr.String())
		}
	})
}
