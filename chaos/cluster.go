package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Size is the number of etcd members, NATS nodes and responders.
const Size = 3

// clusterConfig is what a cluster needs.
type clusterConfig struct {
	bin          Binaries
	dir          string // data and logs
	leaseTTL     time.Duration
	etcdElection time.Duration // etcd's --election-timeout, or 0 for its default
	partitions   int           // the responders' -partitions; above 1 the NATS nodes map the SKU subjects
	token        string        // etcd cluster token
	trace        bool          // etcd logs at info
	logf         func(format string, args ...any)
}

type etcdMember struct {
	*proc
	client, peer string // host:port
}

type natsNode struct {
	*proc
	client, route, monitor string // host:port
}

// responderNode is a responder process; it talks to NATS node nats and to
// etcd member j through proxies[j].
type responderNode struct {
	*proc
	id      string
	http    string
	nats    int
	proxies [Size]*toxiproxy.Proxy
	cut     string // how its etcd connection is cut now, or ""
}

// cluster is the running product: etcd, NATS and responders as separate
// processes, and an in-process toxiproxy between each responder and each
// etcd member.
type cluster struct {
	cfg  clusterConfig
	sp   *spawner
	etcd [Size]*etcdMember
	nats [Size]*natsNode
	resp [Size]*responderNode
	tox  *toxiproxy.ApiServer
	ctl  *nats.Conn
	http *http.Client

	mu     sync.Mutex
	events []string // unexpected exits, with the time since start
	start  time.Time
}

// freeAddrs returns n distinct free loopback addresses.
func freeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs[i] = ln.Addr().String()
	}
	return addrs, nil
}

// startCluster starts etcd, NATS and the proxies, and waits until each
// answers; startResponders starts the responders. On error, what was
// started is stopped.
func startCluster(ctx context.Context, cfg clusterConfig, start time.Time) (c *cluster, err error) {
	c = &cluster{cfg: cfg, sp: newSpawner(), start: start,
		http: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	defer func() {
		if err != nil {
			c.close()
			c = nil
		}
	}()
	// Every address is reserved at once, proxies' included, so that no two
	// listeners of the run can be given the same port.
	addrs, err := freeAddrs(2*Size + 3*Size + Size + Size*Size)
	if err != nil {
		return nil, err
	}
	take := func() string { a := addrs[0]; addrs = addrs[1:]; return a }
	logDir := filepath.Join(cfg.dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	onExit := func(p *proc, err error, expected bool) {
		if !expected {
			c.event("%s exited unexpectedly: %v", p.name, err)
		}
	}

	var initial []string
	for i := range c.etcd {
		m := &etcdMember{client: take(), peer: take()}
		m.proc = &proc{name: fmt.Sprintf("etcd%d", i), path: cfg.bin.Etcd, log: filepath.Join(logDir, fmt.Sprintf("etcd%d.log", i)), sp: c.sp, onExit: onExit}
		c.etcd[i] = m
		initial = append(initial, fmt.Sprintf("%s=http://%s", m.name, m.peer))
	}
	level := "warn"
	if cfg.trace {
		level = "info"
	}
	for i, m := range c.etcd {
		m.args = []string{
			"--name", m.name,
			"--data-dir", filepath.Join(cfg.dir, fmt.Sprintf("etcd%d", i)),
			"--listen-client-urls", "http://" + m.client,
			"--advertise-client-urls", "http://" + m.client,
			"--listen-peer-urls", "http://" + m.peer,
			"--initial-advertise-peer-urls", "http://" + m.peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", cfg.token,
			"--log-level", level,
			// Compacting every minute, as a deployment must (docker-compose
			// does every 5), so long runs also cross compactions.
			"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1m",
		}
		if e := cfg.etcdElection; e > 0 {
			m.args = append(m.args,
				"--election-timeout", strconv.FormatInt(e.Milliseconds(), 10),
				"--heartbeat-interval", strconv.FormatInt(e.Milliseconds()/10, 10))
		}
		if err := m.start(); err != nil {
			return c, err
		}
	}
	for i := range c.nats {
		n := &natsNode{client: take(), route: take(), monitor: take()}
		n.proc = &proc{name: fmt.Sprintf("nats%d", i), path: cfg.bin.NATS, log: filepath.Join(logDir, fmt.Sprintf("nats%d.log", i)), sp: c.sp, onExit: onExit}
		c.nats[i] = n
	}
	for i, n := range c.nats {
		var routes []string
		for j, o := range c.nats {
			if j != i {
				routes = append(routes, "nats://"+o.route)
			}
		}
		host, port, _ := net.SplitHostPort(n.client)
		_, mport, _ := net.SplitHostPort(n.monitor)
		n.args = []string{
			"-a", host, "-p", port, "-n", n.name, "-m", mport,
			"--cluster", "nats://" + n.route, "--cluster_name", "chaos",
			"--routes", strings.Join(routes, ","),
		}
		if m := natsMappings(cfg.partitions); m != "" {
			conf := filepath.Join(cfg.dir, n.name+".conf")
			if err := os.WriteFile(conf, []byte(m), 0o644); err != nil {
				return c, err
			}
			n.args = append([]string{"-c", conf}, n.args...)
		}
		if err := n.start(); err != nil {
			return c, err
		}
	}
	for i := range c.etcd {
		if err := c.waitEtcd(ctx, i, 30*time.Second); err != nil {
			return c, err
		}
	}
	for i := range c.nats {
		if err := c.waitNATS(ctx, i, 20*time.Second); err != nil {
			return c, err
		}
	}

	m := toxiproxy.NewMetricsContainer(nil)
	c.tox = toxiproxy.NewServer(m, zerolog.Nop())
	for i := range c.resp {
		r := &responderNode{id: fmt.Sprintf("r%d", i), http: take(), nats: i}
		var eps []string
		for j, m := range c.etcd {
			p := toxiproxy.NewProxy(c.tox, fmt.Sprintf("r%d-etcd%d", i, j), take(), m.client)
			if err := c.tox.Collection.Add(p, true); err != nil {
				return c, fmt.Errorf("chaos: proxy: %w", err)
			}
			r.proxies[j] = p
			eps = append(eps, p.Listen)
		}
		r.proc = &proc{
			name: r.id, path: cfg.bin.Responder, log: filepath.Join(logDir, r.id+".log"), sp: c.sp, onExit: onExit,
			args: []string{
				"-id", r.id,
				"-nats", "nats://" + c.nats[i].client,
				"-etcd", strings.Join(eps, ","),
				"-lease-ttl", cfg.leaseTTL.String(),
				"-partitions", strconv.Itoa(max(cfg.partitions, 1)),
				"-http", r.http,
			},
		}
		c.resp[i] = r
	}
	var urls []string
	for _, n := range c.nats {
		urls = append(urls, "nats://"+n.client)
	}
	c.ctl, err = nats.Connect(strings.Join(urls, ","), nats.Name("chaos control"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return c, fmt.Errorf("chaos: control connection: %w", err)
	}
	return c, nil
}

// startResponders starts every responder, one after the other.
func (c *cluster) startResponders(ctx context.Context) error {
	for i := range c.resp {
		if err := c.startResponder(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// etcdEndpoints are the etcd members' client addresses, reached directly.
func (c *cluster) etcdEndpoints() []string {
	var eps []string
	for _, m := range c.etcd {
		eps = append(eps, m.client)
	}
	return eps
}

// event records something that happened outside the fault schedule.
func (c *cluster) event(format string, args ...any) {
	msg := fmt.Sprintf("%v: ", time.Since(c.start).Round(time.Millisecond)) + fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.events = append(c.events, msg)
	c.mu.Unlock()
	c.cfg.logf("event: %s", msg)
}

func (c *cluster) takeEvents() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events
}

// close stops every process, the proxies and the spawner. Safe to call twice.
func (c *cluster) close() {
	if c.ctl != nil {
		c.ctl.Close()
	}
	var procs []*proc
	for _, r := range c.resp {
		if r != nil && r.proc != nil {
			procs = append(procs, r.proc)
		}
	}
	for _, n := range c.nats {
		if n != nil && n.proc != nil {
			procs = append(procs, n.proc)
		}
	}
	for _, m := range c.etcd {
		if m != nil && m.proc != nil {
			procs = append(procs, m.proc)
		}
	}
	for _, p := range procs {
		_ = p.kill()
	}
	if c.tox != nil {
		_ = c.tox.Collection.Clear()
	}
	c.http.CloseIdleConnections()
	c.sp.close()
}

func (c *cluster) get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// waitEtcd waits until member i reports itself healthy (it has a leader).
func (c *cluster) waitEtcd(ctx context.Context, i int, d time.Duration) error {
	m := c.etcd[i]
	err := poll(ctx, d, 100*time.Millisecond, func() error {
		if !m.running() {
			return fmt.Errorf("%s is not running", m.name)
		}
		code, body, err := c.get(ctx, "http://"+m.client+"/health")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("health %d: %s", code, body)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: %s not healthy: %w", m.name, err)
	}
	return nil
}

// etcdLeader returns the index of the etcd member that is raft leader, or -1.
func (c *cluster) etcdLeader(ctx context.Context) int {
	for i, m := range c.etcd {
		if !m.running() {
			continue
		}
		code, body, err := c.get(ctx, "http://"+m.client+"/metrics")
		if err != nil || code != http.StatusOK {
			continue
		}
		for _, line := range strings.Split(string(body), "\n") {
			if line == "etcd_server_is_leader 1" {
				return i
			}
		}
	}
	return -1
}

// waitNATS waits until node i is healthy and routed to every other running node.
func (c *cluster) waitNATS(ctx context.Context, i int, d time.Duration) error {
	n := c.nats[i]
	want := 0
	for j, o := range c.nats {
		if j != i && o.running() {
			want++
		}
	}
	err := poll(ctx, d, 100*time.Millisecond, func() error {
		if !n.running() {
			return fmt.Errorf("%s is not running", n.name)
		}
		code, body, err := c.get(ctx, "http://"+n.monitor+"/routez")
		if err != nil {
			return err
		}
		var rz struct {
			NumRoutes int `json:"num_routes"`
			Routes    []struct {
				RemoteName string `json:"remote_name"`
			} `json:"routes"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &rz) != nil {
			return fmt.Errorf("routez %d", code)
		}
		names := map[string]bool{}
		for _, r := range rz.Routes {
			names[r.RemoteName] = true
		}
		if len(names) < want {
			return fmt.Errorf("%d of %d routes", len(names), want)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: %s not ready: %w", n.name, err)
	}
	return nil
}

// startResponder starts responder i and waits for its /readyz.
func (c *cluster) startResponder(ctx context.Context, i int) error {
	r := c.resp[i]
	if err := r.start(); err != nil {
		return err
	}
	err := poll(ctx, 20*time.Second, 50*time.Millisecond, func() error {
		if !r.running() {
			return fmt.Errorf("%s exited", r.id)
		}
		code, body, err := c.get(ctx, "http://"+r.http+"/readyz")
		if err != nil {
			return err
		}
		state := strings.TrimSpace(string(body))
		if code != http.StatusOK || (state != "leading" && state != "standby") {
			return fmt.Errorf("readyz %d: %s", code, state)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: %s not ready: %w", r.id, err)
	}
	return nil
}

// stats returns responder i's /debug/stats, or nil.
func (c *cluster) stats(ctx context.Context, i int) *nodeStats {
	r := c.resp[i]
	if !r.running() {
		return nil
	}
	code, body, err := c.get(ctx, "http://"+r.http+"/debug/stats")
	if err != nil || code != http.StatusOK {
		return nil
	}
	var s nodeStats
	if json.Unmarshal(body, &s) != nil {
		return nil
	}
	return &s
}

// query asks the leader for sku's state through the control connection.
func (c *cluster) query(sku string, timeout time.Duration) (reply, error) {
	var rep reply
	msg, err := c.ctl.Request(subjQuery+sku, nil, timeout)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return rep, err
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("chaos: query %s: %s: %s", sku, rep.Error, rep.Message)
	}
	return rep, nil
}

// queryBuyer asks what buyer has of sku.
func (c *cluster) queryBuyer(sku, buyer string, timeout time.Duration) (reply, error) {
	var rep reply
	msg, err := c.ctl.Request(subjQuery+sku, fmt.Appendf(nil, `{"buyer":"%s"}`, buyer), timeout)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return rep, err
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("chaos: query %s for buyer %s: %s: %s", sku, buyer, rep.Error, rep.Message)
	}
	return rep, nil
}

// leading returns, per partition, the index of the running responder that
// serves it, as their GET /debug/stats say, once every partition has
// exactly one (within d); and the number of partitions each one leads.
// With balanced set it also waits until those numbers differ by at most
// one among the running responders.
func (c *cluster) leading(ctx context.Context, d time.Duration, balanced bool) (leaders []int, counts [Size]int, err error) {
	n := max(c.cfg.partitions, 1)
	err = poll(ctx, d, 20*time.Millisecond, func() error {
		leaders = make([]int, n)
		for p := range leaders {
			leaders[p] = -1
		}
		counts = [Size]int{}
		running := 0
		for i, r := range c.resp {
			if !r.running() {
				continue
			}
			running++
			st := c.stats(ctx, i)
			if st == nil {
				return fmt.Errorf("%s: no stats", r.id)
			}
			for _, p := range st.LeadingParts {
				if p < 0 || p >= n {
					return fmt.Errorf("%s leads partition %d of %d", r.id, p, n)
				}
				if leaders[p] >= 0 {
					return fmt.Errorf("partition %d: %s and %s both serve it", p, c.resp[leaders[p]].id, r.id)
				}
				leaders[p] = i
				counts[i]++
			}
		}
		if p := slices.Index(leaders, -1); p >= 0 {
			return fmt.Errorf("partition %d has no leader", p)
		}
		if balanced && running > 1 {
			lo, hi := n, 0
			for i, r := range c.resp {
				if r.running() {
					lo, hi = min(lo, counts[i]), max(hi, counts[i])
				}
			}
			if hi-lo > 1 {
				return fmt.Errorf("unbalanced: %v partitions each", counts)
			}
		}
		return nil
	})
	return leaders, counts, err
}

// setLimit creates sku with limit, retrying while no leader serves.
func (c *cluster) setLimit(ctx context.Context, sku string, limit int64) error {
	return c.setLimitPerBuyer(ctx, sku, limit, 0)
}

// setLimitPerBuyer is setLimit with a per-buyer cap (0: none), checked in
// the reply too.
func (c *cluster) setLimitPerBuyer(ctx context.Context, sku string, limit, perBuyer int64) error {
	body := fmt.Appendf(nil, `{"limit":%d}`, limit)
	if perBuyer > 0 {
		body = fmt.Appendf(nil, `{"limit":%d,"per_buyer":%d}`, limit, perBuyer)
	}
	return poll(ctx, 4*c.cfg.leaseTTL+10*time.Second, 50*time.Millisecond, func() error {
		msg, err := c.ctl.Request(subjSet+sku, body, time.Second)
		if err != nil {
			return err
		}
		var rep reply
		if err := json.Unmarshal(msg.Data, &rep); err != nil {
			return err
		}
		if rep.Error != "" || rep.Limit != limit || rep.PerBuyer != perBuyer {
			return fmt.Errorf("admin.set %s: %+v", sku, rep)
		}
		return nil
	})
}

// natsNodes returns, per responder, the NATS node its connection is on
// now, as the nodes' GET /connz list it by name (a responder whose node
// was killed reconnects to another and stays there); -1 if not found.
func (c *cluster) natsNodes(ctx context.Context) [Size]int {
	on := [Size]int{-1, -1, -1}
	for ni, n := range c.nats {
		if !n.running() {
			continue
		}
		code, body, err := c.get(ctx, "http://"+n.monitor+"/connz?limit=4096")
		var cz struct {
			Connections []struct {
				Name string `json:"name"`
			} `json:"connections"`
		}
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &cz) != nil {
			continue
		}
		for _, conn := range cz.Connections {
			for i, r := range c.resp {
				if conn.Name == "stock-responder "+r.id {
					on[i] = ni
				}
			}
		}
	}
	return on
}

// Ways to cut a responder from etcd.
const (
	cutRefuse    = "refuse"    // proxies stopped: connections closed, new ones refused
	cutBlackhole = "blackhole" // proxies drop every byte and keep connections open
)

// cutEtcd cuts responder i from every etcd member.
func (c *cluster) cutEtcd(i int, how string) error {
	r := c.resp[i]
	if r.cut != "" {
		return fmt.Errorf("chaos: %s already cut", r.id)
	}
	for _, p := range r.proxies {
		switch how {
		case cutRefuse:
			p.Stop()
		case cutBlackhole:
			for _, dir := range []string{"upstream", "downstream"} {
				t := fmt.Sprintf(`{"name":"blackhole_%s","type":"timeout","stream":%q,"toxicity":1,"attributes":{"timeout":0}}`, dir, dir)
				if _, err := p.Toxics.AddToxicJson(strings.NewReader(t)); err != nil {
					return fmt.Errorf("chaos: toxic: %w", err)
				}
			}
		default:
			return fmt.Errorf("chaos: unknown cut %q", how)
		}
	}
	r.cut = how
	return nil
}

// healEtcd undoes cutEtcd.
func (c *cluster) healEtcd(ctx context.Context, i int) error {
	r := c.resp[i]
	var errs []error
	for _, p := range r.proxies {
		switch r.cut {
		case cutRefuse:
			if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
				errs = append(errs, err)
			}
		case cutBlackhole:
			// Removing a timeout toxic from live links leaves toxiproxy's
			// goroutine before it blocked forever on the removed stub. So
			// close the links first (the toxic's removal would close them
			// anyway), let them wind down, then remove the toxic.
			p.Stop()
			time.Sleep(50 * time.Millisecond)
			for _, dir := range []string{"upstream", "downstream"} {
				if err := p.Toxics.RemoveToxic(ctx, "blackhole_"+dir); err != nil {
					errs = append(errs, err)
				}
			}
			if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
				errs = append(errs, err)
			}
		}
	}
	r.cut = ""
	return errors.Join(errs...)
}
