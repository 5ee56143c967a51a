package chaos

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the paths of the programs a run starts.
type Binaries struct {
	Responder string
	Etcd      string
	NATS      string
}

// Packages built by Build; etcd and nats-server are dependencies of this
// module, so their versions are the ones go.mod pins.
const (
	ResponderPackage = "github.com/stockstate/stock/cmd/responder"
	EtcdPackage      = "go.etcd.io/etcd/server/v3"
	NATSPackage      = "github.com/nats-io/nats-server/v2"
)

// Build builds the responder, etcd and nats-server into dir with the go
// command, from within this module (the working directory must lie in it).
func Build(ctx context.Context, dir string) (Binaries, error) {
	b := Binaries{
		Responder: filepath.Join(dir, "responder"),
		Etcd:      filepath.Join(dir, "etcd"),
		NATS:      filepath.Join(dir, "nats-server"),
	}
	for _, x := range []struct{ out, pkg string }{
		{b.Responder, ResponderPackage},
		{b.Etcd, EtcdPackage},
		{b.NATS, NATSPackage},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", x.out, x.pkg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return b, fmt.Errorf("chaos: go build %s: %w\n%s", x.pkg, err, strings.TrimSpace(string(out)))
		}
	}
	return b, nil
}
