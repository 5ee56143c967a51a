package responder

import (
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// CandidateValue is what a node campaigns with: its id and its process
// instance, so a standby can probe the very process that leads (a restarted
// process reuses its id, never its instance).
func CandidateValue(id, instance string) string { return id + "#" + instance }

// instanceOf returns the instance of a candidate value, or "".
func instanceOf(value string) string {
	if i := strings.LastIndexByte(value, '#'); i >= 0 {
		return value[i+1:]
	}
	return ""
}

// probeSubject is where the process with instance answers probes, from its
// start to its end, whether or not it leads.
func (s *Server) probeSubject(instance string) string {
	return s.cfg.Prefix + ".probe." + instance
}

// answerProbes subscribes to this process's probe subject, and flushes so
// that its NATS server has the subscription before the process campaigns
// (a failed flush is logged: the subscription is sent on reconnect).
// NATS drops the subscription when the process dies and its connection
// closes, so that probes then get "no responders" at once; a paused process
// keeps it, and its probes time out instead.
func (s *Server) answerProbes() (*nats.Subscription, error) {
	body := wire.Quote(s.cfg.ID)
	sub, err := s.nc.Subscribe(s.probeSubject(s.cfg.Instance), func(m *nats.Msg) {
		if m.Reply != "" {
			_ = s.nc.Publish(m.Reply, body)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := s.nc.FlushTimeout(s.cfg.WriteTimeout); err != nil {
		s.log.Warn("probe subscription not confirmed by NATS yet", "err", err)
	}
	return sub, nil
}
