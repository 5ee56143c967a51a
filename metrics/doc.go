// Package metrics exports a responder to Prometheus: its counters, read from
// responder.Server.Stats at scrape time, and the events its Observer is told
// (store write latency, leadership changes) as histograms and counters.
//
// Labels are bounded: by endpoint, error kind, write outcome and leadership
// state, never by SKU, so ten thousand SKUs cost no more series than one.
// Nothing is registered globally: the caller passes the registry in.
package metrics
