package responder

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Every responder, leading or standing by, answers the NATS micro discovery
// subjects ($SRV.PING, $SRV.INFO, $SRV.STATS, each also under the service
// name and under name.instance) in the micro formats, so `nats micro ls`,
// `info` and `stats` list them all and say which one leads. The request
// path itself does not go through micro: its plain subscriptions and
// hand-written replies cost less per request (DESIGN.md, "How we measure").

// answerDiscovery subscribes to the discovery subjects.
func (s *Server) answerDiscovery() ([]*nats.Subscription, error) {
	var subs []*nats.Subscription
	for _, v := range []struct {
		verb    micro.Verb
		handler func() any
	}{
		{micro.PingVerb, s.ping},
		{micro.InfoVerb, s.info},
		{micro.StatsVerb, s.microStats},
	} {
		for _, subject := range []string{
			micro.APIPrefix + "." + v.verb.String(),
			micro.APIPrefix + "." + v.verb.String() + "." + s.cfg.ServiceName,
			micro.APIPrefix + "." + v.verb.String() + "." + s.cfg.ServiceName + "." + s.cfg.Instance,
		} {
			handler := v.handler
			sub, err := s.nc.Subscribe(subject, func(m *nats.Msg) {
				if m.Reply == "" {
					return
				}
				body, err := json.Marshal(handler())
				if err == nil {
					err = s.nc.Publish(m.Reply, body)
				}
				if err != nil {
					s.log.Warn("discovery reply not sent", "subject", m.Subject, "err", err)
				}
			})
			if err != nil {
				for _, s := range subs {
					_ = s.Unsubscribe()
				}
				return nil, err
			}
			subs = append(subs, sub)
		}
	}
	return subs, nil
}

func (s *Server) identity() micro.ServiceIdentity {
	return micro.ServiceIdentity{
		Name:    s.cfg.ServiceName,
		ID:      s.cfg.Instance,
		Version: s.cfg.Version,
		Metadata: map[string]string{
			"node":       s.cfg.ID,
			"leader":     strconv.FormatBool(s.Leading()),
			"prefix":     s.cfg.Prefix,
			"started":    s.started.Format(time.RFC3339),
			"partitions": strconv.Itoa(len(s.parts)),
			"leading":    joinInts(s.LeadingPartitions()),
		},
	}
}

func (s *Server) ping() any {
	return micro.Ping{ServiceIdentity: s.identity(), Type: micro.PingResponseType}
}

func (s *Server) info() any {
	eps := make([]micro.EndpointInfo, 0, numEndpoints)
	for i, ep := range endpoints {
		eps = append(eps, micro.EndpointInfo{Name: ep.name, Subject: publicSubject(s.cfg.Prefix, i, len(s.parts)), QueueGroup: s.cfg.Queue})
	}
	return micro.Info{
		ServiceIdentity: s.identity(),
		Type:            micro.InfoResponseType,
		Description:     "stock for flash sales: the leader grants units from memory within caps persisted in etcd",
		Endpoints:       eps,
	}
}

// serviceData is the "data" of the acquire endpoint's stats.
type serviceData struct {
	Units        uint64            `json:"granted_units"`
	Errors       map[string]uint64 `json:"errors"`
	Refills      uint64            `json:"refills"`
	RefillKeys   uint64            `json:"refill_keys"`
	Stalls       uint64            `json:"refill_stalls"`
	WaitTimeouts uint64            `json:"wait_timeouts"`
	SKUs         int               `json:"skus"`
	WindowUnits  int64             `json:"window_units"`
	Terms        uint64            `json:"terms"`
	Leading      bool              `json:"leading"`
}

func (s *Server) microStats() any {
	st := s.Stats()
	out := micro.Stats{ServiceIdentity: s.identity(), Type: micro.StatsResponseType, Started: s.started}
	for i, e := range st.Endpoints {
		es := &micro.EndpointStats{
			Name:           e.Name,
			Subject:        publicSubject(s.cfg.Prefix, i, len(s.parts)),
			QueueGroup:     s.cfg.Queue,
			NumRequests:    int(e.Requests),
			NumErrors:      int(e.Errors),
			ProcessingTime: e.ProcessingTime,
		}
		if e.Requests > 0 {
			es.AverageProcessingTime = e.ProcessingTime / time.Duration(e.Requests)
		}
		if i == epAcquire {
			es.Data, _ = json.Marshal(serviceData{
				Units: st.Units, Errors: st.Errors, Refills: st.Refills, RefillKeys: st.RefillKeys,
				Stalls: st.Stalls, WaitTimeouts: st.WaitTimeouts, SKUs: st.SKUs, WindowUnits: st.WindowUnits,
				Terms: st.Terms, Leading: st.Leading,
			})
		}
		out.Endpoints = append(out.Endpoints, es)
	}
	return out
}

// joinInts lists xs separated by commas.
func joinInts(xs []int) string {
	b := make([]byte, 0, 4*len(xs))
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return string(b)
}
