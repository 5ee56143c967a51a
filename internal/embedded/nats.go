// Package embedded starts the NATS server and the single-node etcd that make
// the responder a single binary by default, and that tests run against.
package embedded

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartNATS starts a NATS server listening on addr ("host:port"; port 0 or -1
// picks a free one) and waits until it accepts clients. The caller owns the
// server and stops it with Shutdown followed by WaitForShutdown.
func StartNATS(addr string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded: nats listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded: nats listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		Host:   host,
		Port:   port,
		NoLog:  true,
		NoSigs: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded: nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded: nats did not start listening on %s", addr)
	}
	return srv, nil
}
