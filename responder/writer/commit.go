package writer

import (
	"context"
	"errors"
	"time"

	"github.com/stockstate/stock/capstore"
)

// Bounds of one write attempt. An attempt is cut off after a multiple of
// the recent write time, at least minAttempt and at most WriteTimeout, so
// that a write stuck on an etcd member that lost its raft leader (etcd
// neither applies nor fails it) is sent again soon after etcd elects a new
// one, while a write that is merely slow is not cut off.
const (
	minAttempt      = 250 * time.Millisecond
	attemptPerWrite = 8
)

// A write attempt that has no reply after twice the recent write time (at
// least raftPoll, at most minAttempt) reads etcd's raft term every raftPoll,
// which needs no raft leader: a term above the store's last reply means etcd
// has elected (or is electing) a new raft leader, and the attempt, which may
// be stuck on the dead one, is cut off at once rather than at its timeout. A
// merely slow write leaves the term as it was and is not cut off.
const raftPoll = 20 * time.Millisecond

// errNewRaftLeader is the cause of an attempt cut off for a new raft leader.
var errNewRaftLeader = errors.New("etcd has a new raft leader")

// maxRefused bounds the retries of a write the fence refused while the
// leader key stayed ours; only a late refence can do that, so more means
// something else writes the key, and the term ends.
const maxRefused = 3

// commit writes the round's records. After an attempt of unknown outcome (a timeout,
// say while etcd elects a new raft leader) it moves the fence and writes the
// very same records again: the earlier attempt, if it lands late, then
// fails its compare instead of overwriting records written after it, and
// nothing of the batch is served until one attempt is known to have
// succeeded. A refused fence that refence finds still ours (it was moved by
// a refence of unknown outcome that landed late) is retried the same way.
// It gives up, with the last error, once the lease is no longer valid or
// stop ends; the term then ends.
func (w *Writer) commit(stop context.Context, writes capstore.Writes) (committed bool, err error) {
	records := writes.Len()
	for refused := 0; ; {
		ctx, cancel := w.attemptContext()
		start := time.Now()
		committed, err = w.store.CommitWrites(ctx, w.lease.Key(), w.Fence(), writes)
		cause := context.Cause(ctx)
		cancel()
		took := time.Since(start)
		if w.cfg.Observe != nil {
			w.cfg.Observe(took, records, committed, err)
		}
		switch {
		case err == nil && committed:
			w.observeWrite(took)
			return true, nil
		case err == nil:
			if refused++; refused > maxRefused {
				return false, nil
			}
		default:
			if !w.lease.Valid() {
				return false, err
			}
			w.cfg.Log.Warn("store write outcome unknown; moving the fence and writing the same records again",
				"records", records, "took", took, "err", err, "cause", cause)
		}
		ours, rerr := w.refence(stop)
		switch {
		case rerr != nil:
			return false, rerr
		case !ours:
			return false, err
		}
	}
}

// refence moves the fence, retrying attempts of unknown outcome while the
// lease is valid. ours=false: the leader key is gone or another's.
func (w *Writer) refence(stop context.Context) (ours bool, err error) {
	backoff := 10 * time.Millisecond
	for {
		ctx, cancel := w.attemptContext()
		rev, ok, err := w.store.Refence(ctx, w.lease.Key(), w.lease.Rev())
		cancel()
		if err == nil {
			if ok {
				w.fence.Store(rev)
			}
			return ok, nil
		}
		if !w.lease.Valid() {
			return false, err
		}
		select {
		case <-stop.Done():
			return false, err
		case <-w.lease.Done():
			return false, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// attemptContext is the context of one write attempt: it ends after
// attemptTimeout, or with cause errNewRaftLeader as soon as etcd reports a
// raft term newer than the store's last reply (see raftPoll). The caller
// cancels it when the attempt returns, which also ends the watch.
func (w *Writer) attemptContext() (context.Context, context.CancelFunc) {
	parent, cut := context.WithCancelCause(context.Background())
	ctx, cancel := context.WithTimeout(parent, w.attemptTimeout())
	store, term := w.store, w.store.RaftTerm()
	if term == 0 { // no reply yet to compare with
		return ctx, func() { cancel(); cut(nil) }
	}
	// A timer, not a goroutine: most attempts end before it fires.
	watch := time.AfterFunc(min(max(2*w.recentWrite(), raftPoll), minAttempt), func() {
		for {
			if now, err := store.ReadRaftTerm(ctx); err == nil && now > term {
				cut(errNewRaftLeader)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(raftPoll):
			}
		}
	})
	return ctx, func() { watch.Stop(); cancel(); cut(nil) }
}

// attemptTimeout bounds one write attempt.
func (w *Writer) attemptTimeout() time.Duration {
	return min(max(attemptPerWrite*w.recentWrite(), minAttempt), w.cfg.WriteTimeout)
}

// recentWrite is the moving average of successful write times.
func (w *Writer) recentWrite() time.Duration { return time.Duration(w.write.Load()) }

// observeWrite folds a successful write's time into the moving average.
// Rounds written at once may each fold theirs: one may be lost, which an
// average can afford.
func (w *Writer) observeWrite(d time.Duration) {
	avg := w.recentWrite()
	if avg == 0 {
		avg = d
	}
	w.write.Store(int64(avg + (d-avg)/8))
}
