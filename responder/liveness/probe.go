package liveness

import (
	"strings"

	"github.com/nats-io/nats.go"
)

// CandidateValue is what a node campaigns with: its id and its process
// instance, so a standby can probe the very process that leads (a restarted
// process reuses its id, never its instance).
func CandidateValue(id, instance string) string { return id + "#" + instance }

// IDOf returns the node id of a candidate value.
func IDOf(value string) string {
	if i := strings.LastIndexByte(value, '#'); i >= 0 {
		return value[:i]
	}
	return value
}

// InstanceOf returns the instance of a candidate value, or "".
func InstanceOf(value string) string {
	if i := strings.LastIndexByte(value, '#'); i >= 0 {
		return value[i+1:]
	}
	return ""
}

// Subject is where the process with instance answers probes under prefix,
// from its start to its end, whether or not it leads.
func Subject(prefix, instance string) string { return prefix + ".probe." + instance }

// Answer subscribes nc to subject and answers every probe with body. NATS
// drops the subscription when the process dies and its connection closes,
// so that probes then get "no responders" at once; a paused process keeps
// it, and its probes time out instead. The caller flushes, so that its NATS
// server has the subscription before the process campaigns.
func Answer(nc *nats.Conn, subject string, body []byte) (*nats.Subscription, error) {
	return nc.Subscribe(subject, func(m *nats.Msg) {
		if m.Reply != "" {
			_ = nc.Publish(m.Reply, body)
		}
	})
}
