// Package wire is the stock protocol on the wire: subjects, request and reply
// bodies, error kinds and their status codes, and the binary and JSON batch
// codecs, shared by the responder, its clients and the tools.
package wire
