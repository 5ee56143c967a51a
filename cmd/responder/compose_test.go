package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// loadCompose parses docker-compose.yml as `docker compose` would, with the
// given profiles and an empty environment (so every ${VAR:-default} takes
// its default), without a Docker engine.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv([]string{}),
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

// env returns a service's environment as getenv would.
func env(s types.ServiceConfig) func(string) string {
	return func(k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
}

// TestCompose checks docker-compose.yml against the programs it runs: the
// services exist; every flag and STOCK_* variable given to a responder is
// one the responder has, and the whole command parses and validates with
// the responder's own ParseFlags; every responder passes the same
// -partitions, and deploy/nats-server.conf maps exactly what that number
// needs; loadgen's flags parse with the real loadgen binary; the NATS
// nodes' commands parse with nats-server's own option parser, load
// deploy/nats-server.conf, form one cluster, and have the users the
// responders and loadgen log in as; the etcd members form one cluster; and
// the images are built from Dockerfile stages that exist.
func TestCompose(t *testing.T) {
	p := loadCompose(t, "load")
	want := []string{"etcd1", "etcd2", "etcd3", "nats1", "nats2", "nats3", "responder1", "responder2", "responder3", "prometheus", "grafana", "loadgen"}
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Fatalf("no service %s; have %v", name, p.ServiceNames())
		}
	}
	if extra := len(p.Services) - len(want); extra != 0 {
		t.Errorf("services %v: %d more than %v", p.ServiceNames(), extra, want)
	}
	if def := loadCompose(t); slices.Contains(def.ServiceNames(), "loadgen") {
		t.Error("loadgen starts without --profile load")
	}

	stages := map[string]bool{}
	for _, s := range dockerStages(t) {
		stages[s.name] = true
	}
	byPrefix := func(prefix string) []types.ServiceConfig {
		var out []types.ServiceConfig
		for name, s := range p.Services {
			if strings.HasPrefix(name, prefix) {
				out = append(out, s)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}

	etcdNames := checkEtcd(t, byPrefix("etcd"))
	natsUsers := checkNATS(t, byPrefix("nats"))

	// Responders.
	ids := map[string]bool{}
	natsNodes := map[string]bool{}
	partitions := map[int][]string{} // -partitions: the responders that pass each value
	for _, s := range byPrefix("responder") {
		t.Run(s.Name, func(t *testing.T) {
			if s.Build == nil || s.Build.Target != "responder" || !stages["responder"] {
				t.Errorf("not built from the Dockerfile's responder stage: %+v", s.Build)
			}
			if len(s.Entrypoint) != 0 {
				t.Errorf("entrypoint %v overrides the image's", s.Entrypoint)
			}
			fs := newFlagSet(new(Options))
			for _, arg := range s.Command {
				if name, ok := flagName(arg); ok && fs.Lookup(name) == nil {
					t.Errorf("command passes -%s, which the responder does not have", name)
				}
			}
			known := map[string]bool{}
			fs.VisitAll(func(f *flag.Flag) {
				if hasEnv(f.Name) {
					known[envName(f.Name)] = true
				}
			})
			for k := range s.Environment {
				if strings.HasPrefix(k, "STOCK_") && !known[k] {
					t.Errorf("environment sets %s, which the responder does not read", k)
				}
			}
			m := NewMain()
			if err := m.ParseFlags(s.Command, env(s)); err != nil {
				t.Fatalf("the responder rejects command %q with this environment: %v", s.Command, err)
			}
			o := m.Options
			partitions[o.Partitions] = append(partitions[o.Partitions], s.Name)
			if ids[o.ID] {
				t.Errorf("-id %s used twice", o.ID)
			}
			ids[o.ID] = true
			u, err := url.Parse(o.NATS)
			if err != nil || !strings.HasPrefix(u.Hostname(), "nats") || p.Services[u.Hostname()].Name == "" {
				t.Errorf("-nats %q is not one of the NATS services", o.NATS)
			} else {
				natsNodes[u.Hostname()] = true
			}
			var hosts []string
			for _, ep := range o.Etcd {
				host, _, err := net.SplitHostPort(strings.TrimPrefix(ep, "http://"))
				if err != nil {
					t.Errorf("-etcd endpoint %q: %v", ep, err)
				}
				hosts = append(hosts, host)
			}
			sort.Strings(hosts)
			if !slices.Equal(hosts, etcdNames) {
				t.Errorf("-etcd %v, want every etcd member %v", o.Etcd, etcdNames)
			}
			if host, _, _ := net.SplitHostPort(o.HTTP); host != "0.0.0.0" && host != "" {
				t.Errorf("-http %q cannot be reached from outside the container", o.HTTP)
			}
			if pw, ok := natsUsers[o.NATSAuth.User]; !ok || pw != o.NATSAuth.Password {
				t.Errorf("NATS user %q with its password is not a user of deploy/nats-server.conf", o.NATSAuth.User)
			}
		})
	}
	if len(ids) != 3 || len(natsNodes) != 3 {
		t.Errorf("responders use ids %v and NATS nodes %v; want 3 of each", ids, natsNodes)
	}
	if len(partitions) != 1 {
		t.Errorf("the responders pass different -partitions: %v", partitions)
	}
	for n := range partitions {
		checkMappings(t, n)
	}

	// loadgen
	s := p.Services["loadgen"]
	if !slices.Equal(s.Profiles, []string{"load"}) {
		t.Errorf("loadgen profiles %v, want [load]", s.Profiles)
	}
	if s.Build == nil || s.Build.Target != "loadgen" || !stages["loadgen"] {
		t.Errorf("loadgen is not built from the Dockerfile's loadgen stage: %+v", s.Build)
	}
	checkLoadgen(t, s, natsUsers)
}

// flagName returns the name of a command-line flag argument.
func flagName(arg string) (string, bool) {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return "", false
	}
	name := strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	return name, true
}

// checkEtcd checks that the etcd services form one cluster of members
// named after them, and returns their names.
func checkEtcd(t *testing.T, services []types.ServiceConfig) []string {
	t.Helper()
	var names []string
	for _, s := range services {
		names = append(names, s.Name)
	}
	for _, s := range services {
		if e := env(s); e("ETCD_AUTO_COMPACTION_MODE") != "periodic" || e("ETCD_AUTO_COMPACTION_RETENTION") == "" {
			t.Errorf("%s: etcd does not compact its history (ETCD_AUTO_COMPACTION_MODE %q, _RETENTION %q)",
				s.Name, e("ETCD_AUTO_COMPACTION_MODE"), e("ETCD_AUTO_COMPACTION_RETENTION"))
		}
		args := map[string]string{}
		for _, a := range s.Command[1:] {
			k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			args[k] = v
		}
		if args["name"] != s.Name ||
			args["advertise-client-urls"] != "http://"+s.Name+":2379" ||
			args["initial-advertise-peer-urls"] != "http://"+s.Name+":2380" {
			t.Errorf("%s: command %v does not name and advertise the member as %s", s.Name, s.Command, s.Name)
		}
		var members []string
		for _, m := range strings.Split(env(s)("ETCD_INITIAL_CLUSTER"), ",") {
			name, peer, _ := strings.Cut(m, "=")
			if peer != "http://"+name+":2380" {
				t.Errorf("%s: initial cluster member %q", s.Name, m)
			}
			members = append(members, name)
		}
		sort.Strings(members)
		if !slices.Equal(members, names) {
			t.Errorf("%s: initial cluster %v, want %v", s.Name, members, names)
		}
	}
	if len(names) != 3 {
		t.Errorf("etcd members %v, want 3", names)
	}
	return names
}

// checkNATS parses each NATS service's command with nats-server's own
// option parser, reading deploy/nats-server.conf through the service's
// volume with the service's environment, and checks that the nodes form
// one cluster. It returns the password of each user of the configuration.
func checkNATS(t *testing.T, services []types.ServiceConfig) map[string]string {
	t.Helper()
	users := map[string]string{}
	for _, s := range services {
		args := slices.Clone([]string(s.Command))
		for i, a := range args {
			for _, v := range s.Volumes {
				if a == v.Target {
					args[i] = v.Source // the host file the container sees
				}
			}
		}
		for k, v := range s.Environment {
			if v != nil {
				t.Setenv(k, *v)
			}
		}
		fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		nop := func() {}
		opts, err := server.ConfigureOptions(fs, args, nop, nop, nop)
		if err != nil {
			t.Fatalf("%s: nats-server rejects %q: %v", s.Name, s.Command, err)
		}
		if opts.ConfigFile == "" || !strings.HasSuffix(opts.ConfigFile, filepath.Join("deploy", "nats-server.conf")) {
			t.Errorf("%s: config file %q, want deploy/nats-server.conf", s.Name, opts.ConfigFile)
		}
		if opts.ServerName != s.Name || opts.Cluster.Name != "stock" || opts.Cluster.Port != 6222 {
			t.Errorf("%s: server %q in cluster %q on port %d", s.Name, opts.ServerName, opts.Cluster.Name, opts.Cluster.Port)
		}
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, r.Hostname())
		}
		sort.Strings(routes)
		var others []string
		for _, o := range services {
			if o.Name != s.Name {
				others = append(others, o.Name)
			}
		}
		if !slices.Equal(routes, others) {
			t.Errorf("%s: routes to %v, want %v", s.Name, routes, others)
		}
		for _, u := range opts.Users {
			if old, ok := users[u.Username]; ok && old != u.Password {
				t.Errorf("user %s has different passwords on different nodes", u.Username)
			}
			users[u.Username] = u.Password
			if u.Account == nil || u.Account.Name != "STOCK" {
				t.Errorf("%s: user %s is not in account STOCK", s.Name, u.Username)
			}
		}
	}
	for _, u := range []string{"responder", "buyer", "admin", "loadgen"} {
		if users[u] == "" {
			t.Errorf("no NATS user %s with a password", u)
		}
	}
	if len(services) != 3 {
		t.Errorf("NATS nodes %d, want 3", len(services))
	}
	return users
}

var loadgenFlag = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)
var envRef = regexp.MustCompile(`\$(STOCK_[A-Z_]+)`)

// checkLoadgen checks loadgen's service against the real loadgen: every
// flag of its command is one `loadgen -h` lists, the command's flags and
// values parse (loadgen is run with them followed by -h, which stops it
// before it connects anywhere), and every STOCK_* variable is one loadgen
// reads, with NATS URLs whose user and password are a NATS user's.
func checkLoadgen(t *testing.T, s types.ServiceConfig, natsUsers map[string]string) {
	t.Helper()
	bin := binary(t, "loadgen")
	help := execute(t, bin, nil, "-h")
	if help.code != 0 {
		t.Fatalf("loadgen -h: exit %d\n%s", help.code, help.stderr)
	}
	usage := help.stdout + help.stderr
	flags := map[string]bool{}
	for _, m := range loadgenFlag.FindAllStringSubmatch(usage, -1) {
		flags[m[1]] = true
	}
	if len(flags) < 10 {
		t.Fatalf("read only %d flags from loadgen -h:\n%s", len(flags), usage)
	}
	for _, arg := range s.Command {
		if name, ok := flagName(arg); ok && !flags[name] {
			t.Errorf("loadgen command passes -%s, which loadgen does not have", name)
		}
	}
	if r := execute(t, bin, nil, append(slices.Clone([]string(s.Command)), "-h")...); r.code != 0 {
		t.Errorf("loadgen rejects command %q: exit %d\n%s", s.Command, r.code, r.stderr)
	}
	reads := map[string]bool{}
	for _, m := range envRef.FindAllStringSubmatch(usage, -1) {
		reads[m[1]] = true
	}
	for k := range s.Environment {
		if strings.HasPrefix(k, "STOCK_") && !reads[k] {
			t.Errorf("loadgen environment sets %s; loadgen reads only %v", k, reads)
		}
	}
	for _, raw := range strings.Split(env(s)("STOCK_NATS"), ",") {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("STOCK_NATS URL %q: %v", raw, err)
			continue
		}
		pw, _ := u.User.Password()
		if natsUsers[u.User.Username()] != pw || pw == "" {
			t.Errorf("loadgen URL %s: %s", u.Redacted(), fmt.Sprintf("user %q with that password is not a NATS user", u.User.Username()))
		}
	}
}

// deployConf is deploy/nats-server.conf, as the tests of this package see it.
var deployConf = filepath.Join("..", "..", "deploy", "nats-server.conf")

// deployPasswords are the variables deploy/nats-server.conf reads its
// users' passwords from.
var deployPasswords = []string{"NATS_RESPONDER_PASSWORD", "NATS_BUYER_PASSWORD", "NATS_ADMIN_PASSWORD", "NATS_LOADGEN_PASSWORD"}

// composePartitions returns the -partitions that every responder of
// docker-compose.yml passes, failing the test if they do not agree.
func composePartitions(t *testing.T) int {
	t.Helper()
	p := loadCompose(t)
	values := map[int][]string{}
	for name, s := range p.Services {
		if !strings.HasPrefix(name, "responder") {
			continue
		}
		m := NewMain()
		if err := m.ParseFlags(s.Command, env(s)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		values[m.Options.Partitions] = append(values[m.Options.Partitions], name)
	}
	if len(values) != 1 {
		t.Fatalf("the responders pass different -partitions: %v", values)
	}
	for n := range values {
		return n
	}
	panic("unreachable")
}

// checkMappings checks that deploy/nats-server.conf's STOCK account maps
// exactly wire.PartitionMappings("stock", n): the mappings block as
// nats-server's parser reads it, and the mappings of the account of a
// server started from the file.
func checkMappings(t *testing.T, n int) {
	t.Helper()
	for _, v := range deployPasswords {
		t.Setenv(v, "pw-"+v)
	}
	want := map[string]string{}
	for _, m := range wire.PartitionMappings("stock", n) {
		want[m.From] = m.To
	}

	parsed, err := conf.ParseFileWithChecks(deployConf)
	if err != nil {
		t.Fatalf("%s: %v", deployConf, err)
	}
	got := map[string]string{}
	accounts, _ := confValue(parsed["accounts"]).(map[string]any)
	account, _ := confValue(accounts["STOCK"]).(map[string]any)
	if account == nil {
		t.Fatalf("%s: no account STOCK", deployConf)
	}
	if raw, ok := account["mappings"]; ok {
		block, ok := confValue(raw).(map[string]any)
		if !ok {
			t.Fatalf("%s: STOCK's mappings are %T, not a block", deployConf, confValue(raw))
		}
		for from, to := range block {
			s, ok := confValue(to).(string)
			if !ok {
				t.Errorf("%s: mapping of %s is %T, not one subject", deployConf, from, confValue(to))
			}
			got[from] = s
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s maps %v; -partitions %d needs exactly %v", deployConf, got, n, want)
	}

	opts, err := server.ProcessConfigFile(deployConf)
	if err != nil {
		t.Fatalf("%s: %v", deployConf, err)
	}
	srv := startNATS(t, opts)
	az, err := srv.Accountz(&server.AccountzOptions{Account: "STOCK"})
	if err != nil || az.Account == nil {
		t.Fatalf("account STOCK of a server started from %s: %v", deployConf, err)
	}
	loaded := map[string]string{}
	for from, dests := range az.Account.Mappings {
		if len(dests) != 1 || dests[0].Weight != 100 || dests[0].Cluster != "" {
			t.Errorf("%s is mapped to %d weighted destinations", from, len(dests))
			continue
		}
		loaded[from] = dests[0].Subject
	}
	if !maps.Equal(loaded, want) {
		t.Errorf("a server started from %s maps %v; -partitions %d needs exactly %v", deployConf, loaded, n, want)
	}
}

// confValue unwraps a value of conf.ParseFileWithChecks.
func confValue(v any) any {
	if tk, ok := v.(interface{ Value() any }); ok {
		return tk.Value()
	}
	return v
}

// TestDeployConfLoads: deploy/nats-server.conf loads with nats-server's
// ProcessConfigFile when the password variables are set, with its four
// users in the STOCK account, and is refused when one is missing.
func TestDeployConfLoads(t *testing.T) {
	for _, v := range deployPasswords {
		t.Setenv(v, "pw-"+v)
	}
	opts, err := server.ProcessConfigFile(deployConf)
	if err != nil {
		t.Fatalf("%s: %v", deployConf, err)
	}
	users := map[string]string{}
	for _, u := range opts.Users {
		if u.Account == nil || u.Account.Name != "STOCK" {
			t.Errorf("user %s is not in account STOCK", u.Username)
		}
		users[u.Username] = u.Password
	}
	for _, v := range deployPasswords {
		user := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(v, "NATS_"), "_PASSWORD"))
		if users[user] != "pw-"+v {
			t.Errorf("user %s has password %q, want $%s's", user, users[user], v)
		}
	}
	if len(users) != len(deployPasswords) {
		t.Errorf("users %v, want %d", slices.Collect(maps.Keys(users)), len(deployPasswords))
	}
	for _, v := range deployPasswords {
		t.Run("without "+v, func(t *testing.T) {
			t.Setenv(v, "")
			os.Unsetenv(v)
			if _, err := server.ProcessConfigFile(deployConf); err == nil {
				t.Errorf("%s loads without $%s", deployConf, v)
			}
		})
	}
}

// TestDeployConfRouting starts a NATS server from deploy/nats-server.conf:
// a request to stock.<verb>.sku1 is delivered on wire.SKUSubject for the
// cluster's -partitions (stock.acquire.sku1 on stock.acquire.sku1.<p>),
// whoever sends it; and the users may publish what partitions need (the
// responder the partition batch subjects and every SKU subject, buyers,
// admins and loadgen the partition batch subjects and stock.partitions),
// without a permission violation.
func TestDeployConfRouting(t *testing.T) {
	n := composePartitions(t)
	srv, pw := deployNATS(t)
	errs := make(chan error, 16)
	connect := func(user string) *nats.Conn {
		return testenv.Connect(t, srv.ClientURL(), nats.UserInfo(user, pw[user]),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- fmt.Errorf("%s: %w", user, err) }))
	}
	responder := connect("responder")
	sub, err := responder.SubscribeSync("stock.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := responder.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func(sent string) string {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		select {
		case err := <-errs:
			t.Fatalf("after %s: %v", sent, err)
		default:
		}
		if err != nil {
			t.Fatalf("%s: nothing delivered: %v", sent, err)
		}
		return m.Subject
	}
	send := func(nc *nats.Conn, subject string) {
		t.Helper()
		if err := nc.Publish(subject, nil); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	buyer := connect("buyer")
	send(buyer, "stock.acquire.sku1")
	if got, want := next("stock.acquire.sku1"), wire.SKUSubject("stock", wire.SubjectAcquire, "sku1", n); got != want {
		t.Fatalf("stock.acquire.sku1 is delivered on %s, want %s", got, want)
	}
	for _, verb := range wire.SKUVerbs {
		subject := "stock." + verb + ".sku1"
		send(responder, subject)
		if got, want := next(subject), wire.SKUSubject("stock", verb, "sku1", n); got != want {
			t.Errorf("%s is delivered on %s, want %s", subject, got, want)
		}
	}
	partitioned := []string{
		wire.PartitionBatchSubject("stock", wire.SubjectAcquire, n-1),
		wire.PartitionBatchSubject("stock", wire.SubjectHold, 0),
		"stock." + wire.SubjectPartitions,
	}
	send(responder, partitioned[0])
	send(responder, partitioned[1])
	if got := next(partitioned[0]); got != partitioned[0] {
		t.Errorf("%s is delivered on %s", partitioned[0], got)
	}
	if got := next(partitioned[1]); got != partitioned[1] {
		t.Errorf("%s is delivered on %s", partitioned[1], got)
	}
	for _, user := range []string{"buyer", "admin", "loadgen"} {
		nc := connect(user)
		for _, subject := range []string{partitioned[0], partitioned[2]} {
			send(nc, subject)
			if got := next(user + " " + subject); got != subject {
				t.Errorf("%s's %s is delivered on %s", user, subject, got)
			}
		}
	}
}

// TestDeployConfPartitions runs two responders with the cluster's
// -partitions against a NATS server of deploy/nats-server.conf: they pass
// their check of the mappings and serve every partition with the users'
// permissions; an admin creates SKUs of every partition, a buyer asks for
// the number of partitions, acquires one SKU on its subject, and a batch
// of all of them on stock.acquire, which a responder splits and forwards
// to the partitions' leaders.
func TestDeployConfPartitions(t *testing.T) {
	n := composePartitions(t)
	srv, pw := deployNATS(t)
	etcd := testenv.Endpoint(testenv.Etcd(t))
	env := map[string]string{"STOCK_NATS_USER": "responder", "STOCK_NATS_PASSWORD": pw["responder"]}
	args := []string{"-nats", srv.ClientURL(), "-etcd", etcd, "-partitions", strconv.Itoa(n)}
	a, _ := startMain(t, env, append([]string{"-id", "node-a"}, args...)...)
	b, _ := startMain(t, env, append([]string{"-id", "node-b"}, args...)...)
	waitSpread(t, n, a, b)

	errs := make(chan error, 16)
	onErr := nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	admin := testenv.Connect(t, srv.ClientURL(), nats.UserInfo("admin", pw["admin"]), onErr)
	buyer := testenv.Connect(t, srv.ClientURL(), nats.UserInfo("buyer", pw["buyer"]), onErr)

	var items []wire.BatchItem
	parts := map[int]bool{}
	for i := 0; len(parts) < n || len(items) < 2*n; i++ {
		sku := fmt.Sprintf("sku%d", i)
		items = append(items, wire.BatchItem{SKU: sku, N: 1})
		parts[wire.Partition(sku, n)] = true
	}
	for _, it := range items {
		subject := "stock.admin.set." + it.SKU
		testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			m, err := admin.Request(subject, []byte(`{"limit":10}`), 2*time.Second)
			if err != nil {
				return fmt.Errorf("%s: %w", subject, err)
			}
			if m.Header.Get(wire.HeaderErrorCode) != "" {
				return fmt.Errorf("%s: %s", subject, m.Data)
			}
			return nil
		})
	}
	m, err := buyer.Request("stock."+wire.SubjectPartitions, nil, 5*time.Second)
	if err != nil || string(m.Data) != string(wire.AppendPartitions(nil, n)) {
		t.Fatalf("stock.partitions: %v %+v", err, m)
	}
	if r := req(t, buyer, "stock.acquire.sku1", `{"n":2}`); r.Granted != 2 || r.Remaining != 8 {
		t.Fatalf("acquire sku1: %+v", r)
	}
	body, _ := json.Marshal(items)
	m, err = buyer.Request("stock.acquire", body, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []wire.BatchResult
	if err := json.Unmarshal(m.Data, &got); err != nil || len(got) != len(items) {
		t.Fatalf("batch: %s: %v", m.Data, err)
	}
	for i, r := range got {
		if r.SKU != items[i].SKU || r.Granted != 1 || r.Error != "" {
			t.Errorf("batch item %d: %+v", i, r)
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}
