package runflags

import (
	"path/filepath"
	"strings"
	"testing"
)

// The parsers take whatever a user types: no input may panic, and what
// they accept must hold their promises.

func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"/data", "data:/data:ro,z", "/a:/b:rshared", "./x:/y", ":", "a::b", "/a:/b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVolume(s)
		if err != nil {
			return
		}
		if !filepath.IsAbs(v.Destination) || v.Destination == "/" || filepath.Clean(v.Destination) != v.Destination {
			t.Errorf("%q: destination %q", s, v.Destination)
		}
		if v.Type == TypeBind && !filepath.IsAbs(v.Source) || v.Type == TypeVolume && v.Source != "" && ValidVolumeName(v.Source) != nil {
			t.Errorf("%q: source %q (%s)", s, v.Source, v.Type)
		}
	})
}

func FuzzParseMount(f *testing.F) {
	for _, s := range []string{"type=bind,src=/a,dst=/b,ro", `type=volume,"volume-opt=o=a,b",dst=/x`, "type=tmpfs,dst=/t,tmpfs-size=1m", `"`, ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMount(s)
		if err != nil {
			return
		}
		if !filepath.IsAbs(m.Target) || m.Target == "/" {
			t.Errorf("%q: target %q", s, m.Target)
		}
	})
}

func FuzzParsePortSpec(f *testing.F) {
	for _, s := range []string{"80", "1.2.3.4:80:80/udp", "[::1]::80", "8000-8010:80", "8000-8001:80-81", "published=1,target=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParsePortSpec(s)
		if err != nil {
			return
		}
		if len(ms) == 0 || len(ms) > 65536 {
			t.Errorf("%q: %d mappings", s, len(ms))
		}
		for _, m := range ms {
			if m.ContainerPort == 0 || m.HostPortEnd < m.HostPort {
				t.Errorf("%q: %+v", s, m)
			}
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "1.5g", "32 KiB", "-1", "1e9", "9999999999999p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Errorf("%q: %d", s, n)
		}
		c, err := ParseCPUs(s)
		if err == nil && (c < 0 || strings.HasPrefix(s, "-")) {
			t.Errorf("cpus %q: %d", s, c)
		}
	})
}

func FuzzMisc(f *testing.F) {
	for _, s := range []string{"nofile=1:2", "/dev/sda:/dev/b:rw", "on-failure:3", "RTMIN+3", "db:[::1]", "container:x", "/run:size=1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseUlimit(s)
		ParseDevice(s)
		ParseRestart(s)
		ParseSignal(s)
		ParseAddHost(s)
		ParseNamespaceMode(s)
		ParseUserNS(s)
		ParseTmpfs(s)
		ParseLogOpts([]string{s})
		ParseLabels([]string{s})
	})
}
