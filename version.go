package pgqueue

// pgqueue.Version, read from the build info.

import "runtime/debug"

// modulePath is the import path of the pgqueue module.
const modulePath = "github.com/pgqueue/pgqueue"

// Version is the version of the pgqueue module compiled into this program,
// as the Go toolchain recorded it in the build info: a release tag such as
// "v1.2.0" when pgqueue is a dependency fetched by version, a pseudo-version
// ("v0.0.0-20261129120000-abcdef123456") for a commit, or "(devel)" when
// built from a checkout without version control information. It is
// "(unknown)" when the binary carries no build info (built without module
// support). Client logs it when it starts; `pgqueue version` prints it.
var Version = moduleVersion()

func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	return versionIn(info)
}

// versionIn finds pgqueue's version in build info: the main module's when
// the program is built inside pgqueue's module (its CLI, its tests), else
// the dependency's, following a replace directive.
func versionIn(info *debug.BuildInfo) string {
	if info.Main.Path == modulePath {
		return orDevel(info.Main.Version)
	}
	for _, d := range info.Deps {
		if d.Path != modulePath {
			continue
		}
		if d.Replace != nil {
			return orDevel(d.Replace.Version)
		}
		return orDevel(d.Version)
	}
	return "(devel)"
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}
