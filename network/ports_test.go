package network

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"hutch.dev/hutch/errdefs"
)

func TestNormalizePorts(t *testing.T) {
	got, err := normalizePorts([]PortMapping{
		{HostPort: 8080, ContainerPort: 80},
		{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 8080, ContainerPort: 80, Protocol: "udp"},
		{HostIP: netip.MustParseAddr("::ffff:127.0.0.1"), ContainerPort: 80},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Protocol != "tcp" || got[1].HostIP.IsValid() || got[2].HostIP.String() != "127.0.0.1" {
		t.Fatalf("normalized: %+v", got)
	}
	for _, c := range []struct {
		ports []PortMapping
		want  string
	}{
		{[]PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "sctp"}}, "protocol must be tcp or udp"},
		{[]PortMapping{{HostPort: 1}}, "no container port"},
		{[]PortMapping{{HostPort: 8080, ContainerPort: 80}, {HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 81}}, "published twice"},
	} {
		if _, err := normalizePorts(c.ports); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.ports, err, c.want)
		}
	}
}

func TestPortOverlaps(t *testing.T) {
	any8080 := PortMapping{HostPort: 8080, Protocol: "tcp"}
	lo8080 := PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, Protocol: "tcp"}
	other8080 := PortMapping{HostIP: netip.MustParseAddr("127.0.0.2"), HostPort: 8080, Protocol: "tcp"}
	udp8080 := PortMapping{HostPort: 8080, Protocol: "udp"}
	for _, c := range []struct {
		a, b PortMapping
		want bool
	}{
		{any8080, lo8080, true}, {lo8080, any8080, true}, {lo8080, lo8080, true},
		{lo8080, other8080, false}, {any8080, udp8080, false},
		{any8080, PortMapping{HostPort: 8081, Protocol: "tcp"}, false},
	} {
		if got := c.a.overlaps(c.b); got != c.want {
			t.Errorf("%s overlaps %s = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if s := lo8080.String(); s != "127.0.0.1:8080->0/tcp" {
		t.Errorf("String: %s", s)
	}
}

func TestResolvePorts(t *testing.T) {
	// A port held by a socket on the host, and one held by a container.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := uint16(l.Addr().(*net.TCPAddr).Port)
	published := uint16(busy + 1)
	all := map[string]*leases{"n": {Attachments: map[string]*Attachment{
		"0123456789abcdef": {ContainerID: "0123456789abcdef", ContainerName: "web", Ports: []PortMapping{{HostPort: published, ContainerPort: 80, Protocol: "tcp"}}},
	}}}

	_, err = resolvePorts([]PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: published, ContainerPort: 80, Protocol: "tcp"}}, all)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), `already published by container "web" (0123456789ab)`) {
		t.Fatalf("port of another container: %v", err)
	}
	_, err = resolvePorts([]PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: busy, ContainerPort: 80, Protocol: "tcp"}}, all)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "in use on the host") {
		t.Fatalf("port held on the host: %v", err)
	}
	// The same number over UDP is free.
	if _, err := resolvePorts([]PortMapping{{HostPort: published, ContainerPort: 80, Protocol: "udp"}}, all); err != nil {
		t.Fatalf("udp: %v", err)
	}
	got, err := resolvePorts([]PortMapping{{ContainerPort: 80, Protocol: "tcp"}, {ContainerPort: 81, Protocol: "tcp"}}, all)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].HostPort == 0 || got[1].HostPort == 0 || got[0].HostPort == got[1].HostPort || got[0].HostPort == published {
		t.Fatalf("random host ports: %+v", got)
	}
}
