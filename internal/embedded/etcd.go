package embedded

import (
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EtcdConfig says where an embedded single-node etcd keeps its data and listens.
type EtcdConfig struct {
	Dir        string // data directory; created if missing, reused if present
	ClientAddr string // "host:port" for clients
	PeerAddr   string // "host:port" for the (unused) peer port
	LogLevel   string // zap level; empty discards etcd's own log
}

// CompactionRetention is the history the embedded etcd keeps: it compacts
// every CompactionRetention to what is that old (etcd's periodic
// auto-compaction; etcd compacts nothing by default). The responder writes
// caps and holds all the time, and an uncompacted history grows until etcd's
// space quota stops every write.
const CompactionRetention = 5 * time.Minute

// StartEtcd starts a single-node etcd and waits until it serves. A data
// directory left by an earlier run is reused, so caps and limits survive a
// restart. The caller stops it with Close.
func StartEtcd(c EtcdConfig) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "stock"
	cfg.Dir = c.Dir
	if c.LogLevel == "" {
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	} else {
		cfg.LogLevel = c.LogLevel
	}
	client, err := url.Parse("http://" + c.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded: etcd client address %q: %w", c.ClientAddr, err)
	}
	peer, err := url.Parse("http://" + c.PeerAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded: etcd peer address %q: %w", c.PeerAddr, err)
	}
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = CompactionRetention.String()

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded: etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded: etcd: %w", err)
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded: etcd did not become ready in 30s")
	}
}
