package writer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/stock"
)

// testPlanner hands the writer one queued round at a time and records how
// each ended.
type testPlanner struct {
	mu        sync.Mutex
	queued    []map[string]stock.Record
	applied   []map[string]stock.Record
	abandoned int
}

func (p *testPlanner) queue(w *Writer, puts map[string]stock.Record) {
	p.mu.Lock()
	p.queued = append(p.queued, puts)
	p.mu.Unlock()
	w.Wake()
}

func (p *testPlanner) Hurried() bool { return true }

func (p *testPlanner) Plan(time.Time, stock.Policy, int64) (Plan, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &testRound{p: p, puts: map[string]stock.Record{}}
	if len(p.queued) > 0 {
		r.puts, p.queued = p.queued[0], p.queued[1:]
	}
	return r, len(p.queued) > 0, nil
}

func (p *testPlanner) rounds() (applied []map[string]stock.Record, abandoned int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]stock.Record(nil), p.applied...), p.abandoned
}

type testRound struct {
	p    *testPlanner
	puts map[string]stock.Record
}

func (r *testRound) Records() capstore.Writes { return capstore.Writes{Puts: r.puts} }
func (r *testRound) Applied(time.Duration) {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if len(r.puts) > 0 {
		r.p.applied = append(r.p.applied, r.puts)
	}
}
func (r *testRound) Abandoned() {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	r.p.abandoned++
}

// leading starts an etcd and returns a store on it and a won leadership.
func leading(t *testing.T) (*capstore.Store, *election.Leadership) {
	t.Helper()
	cli := testenv.Client(t, testenv.Endpoint(testenv.Etcd(t)))
	el := election.New(cli, "/w/leader", "w", 5*time.Second, testenv.Logger(t))
	t.Cleanup(func() { el.Close() })
	lead, err := el.Campaign(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return capstore.New(cli, "/w"), lead
}

func testConfig(t *testing.T) Config {
	return Config{Coalesce: 10 * time.Millisecond, WriteTimeout: 5 * time.Second, KeyBudget: 1000,
		Policy: stock.DefaultPolicy(), Log: testenv.Logger(t)}
}

// TestWriterAppliesOnlyWhatIsDurable: each round is applied after its
// records are in the store, fenced on the lease; once the lease is resigned
// the next write is refused, the round is abandoned, and the writer stops
// with ErrFenced without the record reaching the store.
func TestWriterAppliesOnlyWhatIsDurable(t *testing.T) {
	store, lead := leading(t)
	p := &testPlanner{}
	w := Start(testConfig(t), store, lead, p)
	defer w.Close()

	p.queue(w, map[string]stock.Record{"a": {Limit: 10, Cap: 4}})
	p.queue(w, map[string]stock.Record{"b": {Limit: 5, Cap: 5}})
	testenv.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if applied, _ := p.rounds(); len(applied) < 2 {
			return errors.New("rounds not applied yet")
		}
		return nil
	})
	recs, _, err := store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if recs["a"] != (stock.Record{Limit: 10, Cap: 4}) || recs["b"] != (stock.Record{Limit: 5, Cap: 5}) {
		t.Fatalf("applied rounds not in the store: %v", recs)
	}

	if err := lead.Resign(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.queue(w, map[string]stock.Record{"c": {Limit: 1, Cap: 1}})
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("writer still runs after a refused write")
	}
	if !errors.Is(w.Err(), ErrFenced) {
		t.Fatalf("writer stopped with %v, want %v", w.Err(), ErrFenced)
	}
	if applied, abandoned := p.rounds(); len(applied) != 2 || abandoned != 1 {
		t.Fatalf("after the refused write: %d rounds applied, %d abandoned; want 2 and 1", len(applied), abandoned)
	}
	recs, _, err = store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recs["c"]; ok {
		t.Fatal("a refused round reached the store")
	}
}

// TestWriterClose: Close stops an idle writer, is safe to call twice, and
// leaves Err nil.
func TestWriterClose(t *testing.T) {
	store, lead := leading(t)
	w := Start(testConfig(t), store, lead, &testPlanner{})
	w.Close()
	w.Close()
	select {
	case <-w.Done():
	default:
		t.Fatal("Done open after Close")
	}
	if w.Err() != nil {
		t.Fatalf("Err after Close = %v, want nil", w.Err())
	}
}

// gateStore holds every CommitWrites until the test lets it through, and
// counts how many wait at once.
type gateStore struct {
	Store
	gate    chan struct{}
	mu      sync.Mutex
	waiting int
	most    int
}

func (s *gateStore) CommitWrites(ctx context.Context, key string, fence int64, w capstore.Writes) (bool, error) {
	s.mu.Lock()
	s.waiting++
	s.most = max(s.most, s.waiting)
	s.mu.Unlock()
	<-s.gate
	s.mu.Lock()
	s.waiting--
	s.mu.Unlock()
	return s.Store.CommitWrites(ctx, key, fence, w)
}

func (s *gateStore) inFlight() (now, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting, s.most
}

// TestWriterDepth: with Depth 2 the writer writes the next round while one
// is in flight, never a third; every round is applied once it is durable.
func TestWriterDepth(t *testing.T) {
	base, lead := leading(t)
	store := &gateStore{Store: base, gate: make(chan struct{})}
	cfg := testConfig(t)
	cfg.Depth = 2
	p := &testPlanner{}
	w := Start(cfg, store, lead, p)
	defer w.Close()
	for _, sku := range []string{"a", "b", "c", "d"} {
		p.queue(w, map[string]stock.Record{sku: {Limit: 10, Cap: 1}})
	}
	testenv.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		if now, _ := store.inFlight(); now != 2 {
			return fmt.Errorf("%d writes in flight, want 2", now)
		}
		return nil
	})
	for range 4 {
		store.gate <- struct{}{}
	}
	testenv.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if applied, _ := p.rounds(); len(applied) != 4 {
			return fmt.Errorf("%d rounds applied, want 4", len(applied))
		}
		return nil
	})
	if _, most := store.inFlight(); most != 2 {
		t.Fatalf("at most %d writes were in flight, want 2", most)
	}
	recs, _, err := base.Load(t.Context())
	if err != nil || len(recs) != 4 {
		t.Fatalf("store after the rounds: %v %v", recs, err)
	}
}
