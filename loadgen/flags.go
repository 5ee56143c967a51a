package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/stockstate/stock/wire"
)

// Config is everything the flags set.
type Config struct {
	URL        string // -nats, $STOCK_NATS
	Prefix     string // -prefix, $STOCK_PREFIX
	Partitions int    // -partitions: the cluster's P; 0: ask <prefix>.partitions (partition.go)

	SKUs      int    // -skus
	Stock     int64  // -stock: limit of each SKU loadgen creates
	SKUPrefix string // -sku-prefix: SKU i is SKUPrefix+i
	Existing  bool   // -existing: query the SKUs instead of creating them
	PerBuyer  int64  // -per-buyer: per-buyer cap of each SKU loadgen creates; 0: none

	Buyers      int64  // -buyers: size of the buyer pool; 0: requests carry no buyer
	BuyerPrefix string // -buyer-prefix: buyer i is BuyerPrefix+i

	C              int           // -c: requests in flight (closed loop)
	Conns          int           // -conns
	Rate           float64       // -rate: requests per second (open loop); 0 means closed loop
	MaxOutstanding int           // -max-outstanding: open-loop cap on requests in flight
	Timeout        time.Duration // -timeout: per attempt
	Backoff        time.Duration // -backoff: closed-loop wait before retrying after no responders

	Duration time.Duration // -d: 0 means no time bound
	Warmup   time.Duration // -warmup: unmeasured load before each measured phase
	Requests int64         // -requests: 0 means no count bound
	N        int64         // -n: units per request (per item of a batch)
	Batch    int           // -batch: acquires per message on the batch subject; 0 sends single requests
	Op       string        // -op: acquire, hold or confirm (hold.go)
	TTL      time.Duration // -ttl: of holds, rounded up to whole seconds
	Dist     string        // -dist: uniform or zipf
	ZipfS    float64       // -zipf-s
	Seed     uint64        // -seed: 0 picks one

	JSON     bool          // -json
	Progress time.Duration // -progress: 0 turns the progress lines off

	Null        bool   // -null: measure the built-in null responder first
	OnlyNull    bool   // -only-null: measure only the null responder
	NullSubject string // -null-subject: the null responder listens on NullSubject.<sku>
	NullSubs    int    // -null-subs: subscriptions of the null responder

	CPUProfile string // -cpuprofile: write loadgen's own CPU profile here
}

// closedLoop reports whether the run keeps C requests in flight (rather than
// sending at a fixed rate).
func (c *Config) closedLoop() bool { return c.Rate == 0 }

// nullSubject returns the subject prefix of the null responder.
func (c *Config) nullSubject() string {
	if c.NullSubject != "" {
		return c.NullSubject
	}
	return c.Prefix + ".loadgen-null"
}

const usageText = `usage: loadgen [flags]

Loadgen drives a stock deployment over NATS with acquire requests, reports
throughput, latency percentiles and reply counts, and verifies at the end that
no unit was granted twice and no SKU oversold.

Closed loop (default): -c requests stay in flight, pipelined over -conns
connections; a request that meets "no responders" (a failover) is retried
after -backoff. Open loop (-rate R): requests are sent on a fixed schedule
and latency is measured from the scheduled time, so stalls show.

With -batch N, every request is one message of N acquires on the batch
subject <prefix>.acquire (binary encoding, no ids): -c, -rate, -requests and
-max-outstanding count messages, and every acquire counts on its own: its
outcome, its latency (its message's), its units in the verification.
Throughput is reported in acquires and grants per second, and in messages
per second.

With -buyers N, every acquire or hold carries a buyer, <buyer-prefix><i>
with i from 0 to N-1 in the order requests start (across workers, and
from the warm-up on into the measured phase): requests i and i+N share a
buyer, so with N at least the requests of the run every buyer is distinct.
With -per-buyer k the SKUs loadgen creates cap each buyer at k units:
requests that would take a buyer past k are answered buyer_limit, and the
verification also checks that no buyer was granted more than k (from the
grants seen per buyer). A small N makes buyers come back and hit the cap;
a run again on the same SKUs meets the buyers of the last one unless
-buyer-prefix changes. -per-buyer needs -buyers (a capped SKU refuses
requests without a buyer); neither goes with -batch (binary batches carry
no buyer); with -existing the SKUs keep the cap they have.

With -partitions P above 1, every request goes to its SKU's partition:
<prefix>.<verb>.<sku>.<p> for single requests and the setup and final
queries, and <prefix>.partition.<p>.acquire for batches, each batch split
into one message per partition among its items, all sent at once: -c,
-rate and -requests count batches as picked, before the split, and
-max-outstanding the messages in flight; every acquire counts on its own
as before, and the messages of the report are those sent. A closed-loop
slot sends its next batch once every part of the last has ended; a part
that meets no responders is retried on its own. -partitions 0 asks the
responders (<prefix>.partitions) first. The null responder is measured
without partitions.

With -null, a null responder inside loadgen (a plain queue subscriber that
replies fixed bytes, on its own connection) is measured first for the same
duration, then the real responder, and the ratio real/null is reported.

With -warmup D, each measured phase is preceded by D of the same load that
is left out of its numbers: fresh SKUs start with empty windows, which grow
to the load within the first tens of milliseconds. The real responder's
warm-up is still verified, and reported on its own.

Flags (-nats and -prefix default to $STOCK_NATS and $STOCK_PREFIX):
`

// ParseFlags parses args (without the program name) into m.Config. Defaults
// of -nats and -prefix come from m.Getenv.
func (m *Main) ParseFlags(args []string) error {
	getenv := m.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	envOr := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	c := &m.Config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	out := m.Stderr
	if out == nil {
		out = io.Discard
	}
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.URL, "nats", envOr("STOCK_NATS", "nats://127.0.0.1:4222"), "NATS server `URL`s, comma separated")
	fs.StringVar(&c.Prefix, "prefix", envOr("STOCK_PREFIX", "stock"), "subject `prefix` of the responder")
	fs.IntVar(&c.Partitions, "partitions", 0, "the cluster's number of partitions `P`, by which requests are routed (0: ask <prefix>.partitions; 1: subjects without a partition)")
	fs.IntVar(&c.SKUs, "skus", 1, "number of SKUs")
	fs.Int64Var(&c.Stock, "stock", 1_000_000, "limit of each SKU loadgen creates")
	fs.StringVar(&c.SKUPrefix, "sku-prefix", "load", "SKU names are this `prefix` followed by 0..skus-1")
	fs.BoolVar(&c.Existing, "existing", false, "use existing SKUs (read their limits) instead of creating them")
	fs.Int64Var(&c.PerBuyer, "per-buyer", 0, "cap each buyer at `k` units of every SKU loadgen creates (needs -buyers; 0: no cap); verification checks no buyer got more")
	fs.Int64Var(&c.Buyers, "buyers", 0, "each acquire or hold carries a buyer from a pool of `N` (<buyer-prefix>0..N-1, one after the other as requests start: N at least the run's requests makes every buyer distinct; 0: no buyer)")
	fs.StringVar(&c.BuyerPrefix, "buyer-prefix", "b-", "buyer ids are this `prefix` followed by 0..buyers-1")
	fs.IntVar(&c.C, "c", 256, "requests in flight (closed loop)")
	fs.IntVar(&c.Conns, "conns", 4, "NATS connections to send over")
	fs.Float64Var(&c.Rate, "rate", 0, "requests per second in total: open loop (0: closed loop)")
	fs.IntVar(&c.MaxOutstanding, "max-outstanding", 16384, "open loop: most requests in flight; scheduled requests beyond it are counted as unsent")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Second, "time to wait for each reply")
	fs.DurationVar(&c.Backoff, "backoff", 20*time.Millisecond, "closed loop: wait before retrying after no responders")
	fs.DurationVar(&c.Duration, "d", 10*time.Second, "duration of each phase (default 10s unless -requests is given)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "before each measured phase, run the same load this long and leave it out of the phase's numbers (the responder's windows grow to the load first); the real responder's warm-up is verified and reported as warmup")
	fs.Int64Var(&c.Requests, "requests", 0, "requests per phase (0: bounded by -d only)")
	fs.Int64Var(&c.N, "n", 1, "units per request (per acquire of a batch)")
	fs.IntVar(&c.Batch, "batch", 0, "send batches of `N` acquires on the batch subject instead of single requests (0: single)")
	fs.StringVar(&c.Op, "op", OpAcquire, "what each request does: acquire; hold (-n units under an id of its own, for -ttl); or confirm (first hold -requests holds, reported as the warm-up, then confirm each once)")
	fs.DurationVar(&c.TTL, "ttl", 15*time.Minute, "-op hold and confirm: time to live of each hold, rounded up to whole seconds")
	fs.StringVar(&c.Dist, "dist", "uniform", "SKU choice: uniform or zipf (SKU 0 hottest)")
	fs.Float64Var(&c.ZipfS, "zipf-s", 1.1, "exponent s > 1 of -dist zipf")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed of the SKU choice (0: random)")
	fs.BoolVar(&c.JSON, "json", false, "print a JSON summary instead of the text report")
	fs.DurationVar(&c.Progress, "progress", time.Second, "interval of progress lines on stderr (0: none)")
	fs.BoolVar(&c.Null, "null", false, "also measure the built-in null responder, before the real one")
	fs.BoolVar(&c.OnlyNull, "only-null", false, "measure only the built-in null responder (no SKUs, no verification)")
	fs.StringVar(&c.NullSubject, "null-subject", "", "subject prefix of the null responder (default <prefix>.loadgen-null)")
	fs.IntVar(&c.NullSubs, "null-subs", runtime.NumCPU(), "subscriptions of the null responder")

	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write loadgen's CPU profile to `file`")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("loadgen: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("loadgen: unexpected argument %q", fs.Arg(0))
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "d" })
	if c.Requests > 0 && !durationSet {
		c.Duration = 0
	}
	return c.validate()
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("loadgen: "+format, args...))
	}
	if strings.TrimSpace(c.URL) == "" {
		bad("-nats is empty")
	}
	if err := checkSubject(c.Prefix); err != nil {
		bad("-prefix %q: %v", c.Prefix, err)
	}
	if c.NullSubject != "" {
		if err := checkSubject(c.NullSubject); err != nil {
			bad("-null-subject %q: %v", c.NullSubject, err)
		}
	}
	if c.Partitions < 0 || c.Partitions > wire.MaxPartitions {
		bad("-partitions must be from 0 (ask the responders) to %d, got %d", wire.MaxPartitions, c.Partitions)
	}
	if c.SKUs < 1 {
		bad("-skus must be at least 1, got %d", c.SKUs)
	}
	if c.Stock < 0 {
		bad("-stock must not be negative, got %d", c.Stock)
	}
	if err := checkToken(c.SKUPrefix + "0"); err != nil {
		bad("-sku-prefix %q: %v", c.SKUPrefix, err)
	}
	if c.C < 1 {
		bad("-c must be at least 1, got %d", c.C)
	}
	if c.Conns < 1 {
		bad("-conns must be at least 1, got %d", c.Conns)
	}
	if c.closedLoop() && c.C >= 1 && c.Conns > c.C {
		bad("-conns (%d) must not exceed -c (%d)", c.Conns, c.C)
	}
	if c.Rate < 0 {
		bad("-rate must not be negative, got %g", c.Rate)
	}
	if c.MaxOutstanding < 1 {
		bad("-max-outstanding must be at least 1, got %d", c.MaxOutstanding)
	}
	if c.Timeout <= 0 {
		bad("-timeout must be positive, got %v", c.Timeout)
	}
	if c.Backoff < 0 {
		bad("-backoff must not be negative, got %v", c.Backoff)
	}
	if c.Duration < 0 {
		bad("-d must not be negative, got %v", c.Duration)
	}
	if c.Warmup < 0 {
		bad("-warmup must not be negative, got %v", c.Warmup)
	}
	if c.Requests < 0 {
		bad("-requests must not be negative, got %d", c.Requests)
	}
	if c.Duration == 0 && c.Requests == 0 {
		bad("give -d or -requests a positive value: the run would never end")
	}
	if c.N < 1 {
		bad("-n must be at least 1, got %d", c.N)
	}
	if c.Batch < 0 || c.Batch > wire.MaxBatchItems {
		bad("-batch must be from 0 to %d, got %d", wire.MaxBatchItems, c.Batch)
	} else if size := batchBodySize(c); size > wire.MaxBatchBody {
		bad("-batch %d with SKU names like %s%d makes messages of up to %d bytes, over the responder's %d",
			c.Batch, c.SKUPrefix, max(c.SKUs-1, 0), size, wire.MaxBatchBody)
	}
	c.validateBuyers(bad)
	switch c.Op {
	case OpAcquire:
	case OpHold, OpConfirm:
		if c.Batch > 0 {
			bad("-op %s takes no -batch: holds travel one per request", c.Op)
		}
		if c.TTL < time.Second || c.TTL > 24*time.Hour {
			bad("-ttl must be from 1s to 24h, got %v", c.TTL)
		}
		if c.Op == OpConfirm && (c.Requests == 0 || c.Duration > 0) {
			bad("-op confirm needs -requests (the holds to make, then confirm) and no -d")
		}
	default:
		bad("-op must be acquire, hold or confirm, got %q", c.Op)
	}
	switch c.Dist {
	case "uniform":
	case "zipf":
		if !(c.ZipfS > 1) {
			bad("-zipf-s must be greater than 1, got %g", c.ZipfS)
		}
	default:
		bad("-dist must be uniform or zipf, got %q", c.Dist)
	}
	if c.Progress < 0 {
		bad("-progress must not be negative, got %v", c.Progress)
	}
	if c.NullSubs < 1 {
		bad("-null-subs must be at least 1, got %d", c.NullSubs)
	}
	if c.OnlyNull && c.Existing {
		bad("-existing makes no sense with -only-null, which touches no SKU")
	}
	return errors.Join(errs...)
}

// validateBuyers checks -per-buyer, -buyers and -buyer-prefix.
func (c *Config) validateBuyers(bad func(format string, args ...any)) {
	if c.PerBuyer < 0 {
		bad("-per-buyer must not be negative, got %d", c.PerBuyer)
	}
	if c.Buyers < 0 {
		bad("-buyers must not be negative, got %d", c.Buyers)
	}
	if c.Buyers > 0 {
		if last := c.BuyerPrefix + strconv.FormatInt(c.Buyers-1, 10); !wire.ValidBuyer(last) {
			bad("-buyer-prefix %q: buyer ids like %q are not 1 to %d of A-Z a-z 0-9 _ - : . @", c.BuyerPrefix, last, wire.MaxBuyerLen)
		}
		if c.Batch > 0 {
			bad("-buyers takes no -batch: binary batches carry no buyer")
		}
	}
	if c.PerBuyer > 0 {
		switch {
		case c.Buyers == 0:
			bad("-per-buyer needs -buyers: a SKU with a per-buyer cap refuses requests without a buyer")
		case c.Existing:
			bad("-per-buyer sets the SKUs loadgen creates; with -existing they keep their own cap")
		case c.Batch > 0:
			bad("-per-buyer takes no -batch: binary batches carry no buyer")
		}
	}
}

// batchBodySize bounds the size of a batch message: the longest SKU name
// in every item.
func batchBodySize(c *Config) int {
	item := wire.AppendBatchRequest(nil, []wire.BatchItem{{SKU: c.SKUPrefix + strconv.Itoa(max(c.SKUs-1, 0)), N: c.N}})
	return len(item) + 8 + (len(item)-2)*(c.Batch-1)
}

// checkSubject accepts a literal subject: dot-separated tokens without
// wildcards or whitespace.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for _, tok := range strings.Split(s, ".") {
		if err := checkToken(tok); err != nil {
			return err
		}
	}
	return nil
}

// checkToken accepts a single subject token.
func checkToken(t string) error {
	if t == "" {
		return errors.New("empty subject token")
	}
	if strings.ContainsAny(t, ".*> \t\r\n") {
		return fmt.Errorf("token %q contains one of . * > or whitespace", t)
	}
	return nil
}
