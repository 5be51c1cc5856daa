package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `pgqueue version` reports, from the binary's build
// info.
type versionInfo struct {
	Module       string `json:"module"`
	Version      string `json:"version"`
	Revision     string `json:"revision,omitempty"`
	RevisionTime string `json:"revision_time,omitempty"`
	Modified     bool   `json:"modified,omitempty"`
	GoVersion    string `json:"go_version"`
}

func readVersion() versionInfo {
	v := versionInfo{Module: "github.com/pgqueue/pgqueue", Version: "(unknown)", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Path != "" {
		v.Module = info.Main.Path
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	v.GoVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.RevisionTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one-line form: "pgqueue v1.2.0 (revision abc123, 2026-11-29T10:00:00Z, modified) go1.26.8".
func (v versionInfo) String() string {
	s := "pgqueue " + v.Version
	if v.Revision != "" {
		s += " (revision " + v.Revision
		if v.RevisionTime != "" {
			s += ", " + v.RevisionTime
		}
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + v.GoVersion
}

func printVersion(cmd *cobra.Command, g *globals) error {
	v := readVersion()
	if g.json() {
		return printJSON(cmd.OutOrStdout(), v)
	}
	fmt.Fprintln(cmd.OutOrStdout(), v)
	return nil
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of pgqueue: module version, VCS revision and Go version (also --version)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return printVersion(cmd, g) },
	}
}
