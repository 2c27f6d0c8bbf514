package runflags

import "testing"

// BenchmarkRunFlags parses what a typical `hutch run` carries.
func BenchmarkRunFlags(b *testing.B) {
	for b.Loop() {
		ParseVolume("data:/var/lib/data:ro,z")
		ParseVolume("/srv/site:/usr/share/nginx/html")
		ParseMount("type=tmpfs,dst=/run,tmpfs-size=64m")
		ParsePortSpec("127.0.0.1:8080:80/tcp")
		ParseSize("256m")
		ParseCPUs("1.5")
		ParseUlimit("nofile=1024:2048")
		ParseRestart("on-failure:3")
		ParseLogOpts([]string{"max-size=10m", "max-file=3"})
		ParseStopSignal("SIGTERM")
	}
}
