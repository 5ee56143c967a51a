package testenv

import (
	"io"
	"log/slog"
	"testing"

	"go.uber.org/zap"
)

func nopLogger() *zap.Logger { return zap.NewNop() }

// Logger returns a slog.Logger that writes through t.Log, so output shows
// only for failing tests.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

var _ io.Writer = tWriter{}
