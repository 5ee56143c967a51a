package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release, set when building:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/responder
var version string

// Version returns the release set at build time or, without one, the module
// version and VCS revision Go recorded in the binary ("(devel)" for a build
// from a work tree), followed by the Go version and platform.
func Version() string {
	v := version
	if v == "" {
		v = "(unknown)"
		if bi, ok := debug.ReadBuildInfo(); ok {
			v = bi.Main.Version
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						modified = "+dirty"
					}
				}
			}
			if rev != "" {
				v += " " + rev + modified
			}
		}
	}
	return fmt.Sprintf("%s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
