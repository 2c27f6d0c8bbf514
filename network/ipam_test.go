package network

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"hutch.dev/hutch/errdefs"
)

func testNetwork(subnet, ipRange string) (*Network, *Subnet) {
	p := netip.MustParsePrefix(subnet)
	s := Subnet{Subnet: p, Gateway: p.Addr().Next()}
	if ipRange != "" {
		s.IPRange = netip.MustParsePrefix(ipRange)
	}
	n := &Network{Name: "t", ID: "tid", Subnets: []Subnet{s}}
	return n, &n.Subnets[0]
}

func emptyLeases(t *testing.T) *leases {
	return &leases{path: filepath.Join(t.TempDir(), "l.json"), Attachments: map[string]*Attachment{}}
}

func hold(l *leases, id string, a netip.Addr) {
	l.Attachments[id] = &Attachment{ContainerID: id, ContainerName: "c-" + id, IPv4: netip.PrefixFrom(a, 24)}
}

func TestAllocateInOrderSkippingReserved(t *testing.T) {
	n, s := testNetwork("10.89.7.0/29", "") // .1 gateway, .2-.6 usable, .7 broadcast
	l := emptyLeases(t)
	var got []string
	for i := range 5 {
		a, err := l.allocate(n, s)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		hold(l, a.String(), a)
		got = append(got, a.String())
	}
	if want := "10.89.7.2 10.89.7.3 10.89.7.4 10.89.7.5 10.89.7.6"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	_, err := l.allocate(n, s)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), `network "t"`) {
		t.Fatalf("full subnet: got %v", err)
	}
	// A released address comes back, once the walk wraps around to it.
	delete(l.Attachments, "10.89.7.3")
	if a, err := l.allocate(n, s); err != nil || a.String() != "10.89.7.3" {
		t.Fatalf("after release: %v %v, want 10.89.7.3", a, err)
	}
}

func TestAllocateDoesNotReuseAtOnce(t *testing.T) {
	n, s := testNetwork("10.89.7.0/24", "")
	l := emptyLeases(t)
	a, _ := l.allocate(n, s)
	hold(l, "a", a)
	delete(l.Attachments, "a")
	b, _ := l.allocate(n, s)
	if a == b {
		t.Fatalf("%s handed out again right after its release", a)
	}
}

func TestAllocateIPRange(t *testing.T) {
	n, s := testNetwork("10.89.7.0/24", "10.89.7.128/30")
	l := emptyLeases(t)
	var got []string
	for {
		a, err := l.allocate(n, s)
		if err != nil {
			break
		}
		hold(l, a.String(), a)
		got = append(got, a.String())
	}
	if want := "10.89.7.128 10.89.7.129 10.89.7.130 10.89.7.131"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

func TestAllocateIPv6(t *testing.T) {
	n, s := testNetwork("fd89:7::/64", "")
	l := emptyLeases(t)
	a, err := l.allocate(n, s)
	if err != nil || a.String() != "fd89:7::2" {
		t.Fatalf("got %v %v, want fd89:7::2", a, err)
	}
	if l.Last6 != a || l.Last4.IsValid() {
		t.Fatalf("Last4 %v Last6 %v", l.Last4, l.Last6)
	}
}

func TestReserve(t *testing.T) {
	n, s := testNetwork("10.89.7.0/24", "10.89.7.128/25")
	l := emptyLeases(t)
	hold(l, "0123456789abcdef", netip.MustParseAddr("10.89.7.9"))
	for _, c := range []struct {
		addr string
		ok   func(error) bool
		msg  string
	}{
		{"10.89.7.5", func(err error) bool { return err == nil }, ""}, // outside the range but inside the subnet: allowed
		{"10.89.8.5", errdefs.IsInvalidArgument, "not in subnet 10.89.7.0/24"},
		{"10.89.7.1", errdefs.IsInvalidArgument, "reserved"},
		{"10.89.7.255", errdefs.IsInvalidArgument, "reserved"},
		{"10.89.7.0", errdefs.IsInvalidArgument, "reserved"},
		{"10.89.7.9", errdefs.IsConflict, `in use by container "c-0123456789abcdef" (0123456789ab)`},
	} {
		err := l.reserve(n, s, netip.MustParseAddr(c.addr))
		if !c.ok(err) || (c.msg != "" && !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("reserve %s: got %v, want an error with %q", c.addr, err, c.msg)
		}
	}
}

func TestLeasesSaveLoad(t *testing.T) {
	m, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := m.lookup(DefaultNetwork)
	l, err := m.loadLeases(n)
	if err != nil || len(l.Attachments) != 0 {
		t.Fatalf("fresh leases: %v %v", l, err)
	}
	a, _ := l.allocate(n, n.subnet4())
	l.Attachments["x"] = &Attachment{ContainerID: "x", IPv4: netip.PrefixFrom(a, 16), Ports: []PortMapping{{HostPort: 80, ContainerPort: 8080, Protocol: "tcp"}}}
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	again, err := m.loadLeases(n)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Attachments["x"]; got == nil || got.IPv4.String() != "10.88.0.2/16" || len(got.Ports) != 1 || again.Last4 != a {
		t.Fatalf("reloaded: %+v", again)
	}
	delete(again.Attachments, "x")
	if err := again.save(); err != nil {
		t.Fatal(err)
	}
	all, err := m.allLeases()
	if err != nil || len(all) != 0 {
		t.Fatalf("an empty leases file was kept: %v %v", all, err)
	}
}

func TestLastAddr(t *testing.T) {
	for p, want := range map[string]string{"10.0.0.0/8": "10.255.255.255", "10.89.7.0/29": "10.89.7.7", "fd00::/64": "fd00::ffff:ffff:ffff:ffff"} {
		if got := lastAddr(netip.MustParsePrefix(p)).String(); got != want {
			t.Errorf("lastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}
