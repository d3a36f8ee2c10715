// Package buildinfo holds the version every binary reports with --version
// and in its start-up log line. The release build stamps it:
//
//	go build -ldflags "-X github.com/cognitosync/cognitosync/internal/buildinfo.version=v1.2.3" ./cmd/...
//
// (the Makefile's build target and deploy/Dockerfile do). Without a stamp it
// is the module version or VCS revision the Go toolchain recorded, or "dev".
package buildinfo

import "runtime/debug"

// version is set by the linker (-X); "" when the build was not stamped.
var version string

// Version returns the stamped version, else what the Go toolchain recorded
// about the build (a module version from `go install …@v1.2.3`, or the VCS
// revision with "-dirty" for local changes), else "dev".
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "dev-" + rev + dirty
	}
	return "dev"
}

// LDFlag is the -ldflags argument that stamps v into a binary.
func LDFlag(v string) string {
	return "-X github.com/cognitosync/cognitosync/internal/buildinfo.version=" + v
}
