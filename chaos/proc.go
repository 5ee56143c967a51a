package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// spawner starts child processes from one goroutine locked to its OS
// thread. Each child gets SIGKILL when that thread exits (Pdeathsig), which
// happens when the spawner stops or this process dies, however it dies; so
// no child outlives the run even if the test binary is killed.
type spawner struct {
	reqs chan spawnReq
	quit chan struct{} // closed by close
	done chan struct{} // closed when the goroutine (and its thread) ends
	once sync.Once
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), quit: make(chan struct{}), done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(s.done)
		// Never unlocked: the thread exits with the goroutine, and the
		// children started from it get their Pdeathsig.
		runtime.LockOSThread()
		close(started)
		for {
			select {
			case r := <-s.reqs:
				r.err <- r.cmd.Start()
			case <-s.quit:
				return
			}
		}
	}()
	<-started
	return s
}

var errSpawnerClosed = errors.New("chaos: spawner closed")

// start starts cmd from the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	select {
	case s.reqs <- r:
		return <-r.err
	case <-s.quit:
		return errSpawnerClosed
	}
}

// close stops the spawner; its thread exits, killing whatever it started
// that still runs. Safe to call twice.
func (s *spawner) close() {
	s.once.Do(func() { close(s.quit) })
	<-s.done
}

// proc is a child process that can be started again after it exits, each
// time in its own process group, with its output appended to one log file.
type proc struct {
	name string
	path string
	args []string
	log  string
	sp   *spawner

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current process has exited
	expected bool          // the current process is being stopped on purpose
	starts   int
	onExit   func(p *proc, err error, expected bool)
}

func (p *proc) String() string { return p.name }

// start starts the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("chaos: %s is running", p.name)
		}
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== chaos: start %d of %s at %s: %s %q\n", p.starts+1, p.name, time.Now().Format(time.RFC3339Nano), p.path, p.args)
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.sp.start(cmd); err != nil {
		f.Close()
		return fmt.Errorf("chaos: start %s: %w", p.name, err)
	}
	p.starts++
	done := make(chan struct{})
	p.cmd, p.done, p.expected = cmd, done, false
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		expected, onExit := p.expected, p.onExit
		p.mu.Unlock()
		close(done)
		if onExit != nil {
			onExit(p, err, expected)
		}
	}()
	return nil
}

// running reports whether the process has been started and not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process group; expectExit marks an exit that
// follows as intended.
func (p *proc) signal(sig syscall.Signal, expectExit bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("chaos: %s never started", p.name)
	}
	select {
	case <-p.done:
		return fmt.Errorf("chaos: %s is not running", p.name)
	default:
	}
	if expectExit {
		p.expected = true
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// kill sends SIGKILL (continuing the process first if stopped, which
// SIGKILL does anyway) and waits for the exit.
func (p *proc) kill() error {
	if !p.running() {
		return nil
	}
	if err := p.signal(syscall.SIGKILL, true); err != nil && p.running() {
		return err
	}
	if !p.wait(10 * time.Second) {
		return fmt.Errorf("chaos: %s did not exit after SIGKILL", p.name)
	}
	return nil
}

// stopGracefully sends SIGTERM and waits up to d, then kills.
func (p *proc) stopGracefully(d time.Duration) (graceful bool, err error) {
	if !p.running() {
		return false, nil
	}
	if err := p.signal(syscall.SIGTERM, true); err != nil {
		return false, err
	}
	if p.wait(d) {
		return true, nil
	}
	return false, p.kill()
}

// poll calls f every interval until it returns nil, ctx ends or d passes.
func poll(ctx context.Context, d, interval time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
