package responder

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/wire"
)

// checkRouting probes, before a responder serves, that NATS routes the
// SKU subjects as the partitions need: with n > 1 a request published to
// <prefix>.<verb>.<sku> must arrive on wire.SKUSubject (the account's
// mapping appends the partition), with n = 1 unchanged. For each verb it
// publishes one message without a reply subject (handlers ignore those)
// for a token of its own, and watches where it arrives. It fails, naming
// the mapping lines to add or remove, if any arrives elsewhere or not
// within timeout.
func checkRouting(nc *nats.Conn, prefix, instance string, n int, timeout time.Duration) error {
	arrived := make(chan *nats.Msg, 4*len(wire.SKUVerbs))
	var subs []*nats.Subscription
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	tokens := make(map[string]string, len(wire.SKUVerbs)) // verb -> its probe token
	for i, verb := range wire.SKUVerbs {
		token := "routing-probe-" + instance + "-" + strconv.Itoa(i)
		tokens[verb] = token
		base := prefix + "." + verb + "." + token
		for _, subject := range []string{base, base + ".>"} {
			sub, err := nc.ChanSubscribe(subject, arrived)
			if err != nil {
				return fmt.Errorf("responder: routing probe: %w", err)
			}
			subs = append(subs, sub)
		}
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("responder: routing probe: %w", err)
	}
	for verb, token := range tokens {
		if err := nc.Publish(prefix+"."+verb+"."+token, nil); err != nil {
			return fmt.Errorf("responder: routing probe: %w", err)
		}
	}
	got := make(map[string]string, len(tokens)) // verb -> where its probe arrived
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(got) < len(tokens) {
		select {
		case m := <-arrived:
			for verb, token := range tokens {
				if strings.HasPrefix(m.Subject, prefix+"."+verb+"."+token) {
					got[verb] = m.Subject
				}
			}
		case <-timer.C:
			return routingFailure(prefix, n, tokens, got)
		}
	}
	return routingFailure(prefix, n, tokens, got)
}

// routingFailure compares where each verb's probe arrived with where it
// should have, and returns nil if everywhere it did.
func routingFailure(prefix string, n int, tokens, got map[string]string) error {
	var wrong []string
	for _, verb := range wire.SKUVerbs {
		token := tokens[verb]
		want := wire.SKUSubject(prefix, verb, token, n)
		at, ok := got[verb]
		switch {
		case !ok:
			at = "nowhere"
		case at == want:
			continue
		}
		wrong = append(wrong, fmt.Sprintf("%s.%s.<sku> arrives on %s, not %s", prefix, verb,
			strings.ReplaceAll(at, token, "<sku>"), strings.ReplaceAll(want, token, "<sku>")))
	}
	if len(wrong) == 0 {
		return nil
	}
	return routingError(prefix, n, wrong)
}

// routingError explains what the NATS account's mappings must be.
func routingError(prefix string, n int, wrong []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "responder: NATS does not route the SKU subjects for %d partition(s): %s. ", n, strings.Join(wrong, "; "))
	if n < 2 {
		b.WriteString("Remove the account's mappings of the " + prefix + ".<verb>.* subjects, or start every responder with the cluster's -partitions")
		return errors.New(b.String())
	}
	b.WriteString("Add these lines to the account's mappings block of every NATS server (deploy/nats-server.conf) and reload it: ")
	for i, m := range wire.PartitionMappings(prefix, n) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.ConfigLine())
	}
	return errors.New(b.String())
}
