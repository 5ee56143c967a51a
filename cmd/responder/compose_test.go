package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
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
// the responder's own ParseFlags; loadgen's flags parse with the real
// loadgen binary; the NATS nodes' commands parse with nats-server's own
// option parser, load deploy/nats-server.conf, form one cluster, and have
// the users the responders and loadgen log in as; the etcd members form
// one cluster; and the images are built from Dockerfile stages that exist.
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
