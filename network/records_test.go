package network

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hutch.dev/hutch/errdefs"
)

func openTemp(t *testing.T, opts ...Option) (*Manager, string, string) {
	t.Helper()
	root, run := t.TempDir(), t.TempDir()
	opts = append([]Option{
		WithDefaultNetwork("hbt-unit", netip.MustParsePrefix("10.89.250.0/24")),
		WithSubnetPool(netip.MustParsePrefix("10.89.240.0/22")),
		WithFirewallTable("hutch-test-unit"),
	}, opts...)
	m, err := Open(root, run, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m, root, run
}

func mustCreate(t *testing.T, m *Manager, o CreateOptions) *Network {
	t.Helper()
	n, err := m.Create(o)
	if err != nil {
		t.Fatalf("create %q: %v", o.Name, err)
	}
	return n
}

func TestDefaultNetwork(t *testing.T) {
	m, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Inspect(DefaultNetwork)
	if err != nil {
		t.Fatal(err)
	}
	if n.Bridge != "hutch0" || n.Subnets[0].Subnet.String() != "10.88.0.0/16" || n.Subnets[0].Gateway.String() != "10.88.0.1" || !n.Default {
		t.Fatalf("default network: %+v", n)
	}
	if err := m.Remove(DefaultNetwork); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("removing the default network: %v", err)
	}
	if _, err := m.Create(CreateOptions{Name: DefaultNetwork}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("creating a network named bridge: %v", err)
	}
}

func TestCreatePersistsAndLists(t *testing.T) {
	m, root, run := openTemp(t)
	a := mustCreate(t, m, CreateOptions{
		Name: "alpha", Subnet: netip.MustParsePrefix("10.89.251.0/24"), Gateway: netip.MustParseAddr("10.89.251.254"),
		IPRange: netip.MustParsePrefix("10.89.251.128/25"), Labels: map[string]string{"k": "v"}, MTU: 1400,
		IPv6Subnet: netip.MustParsePrefix("fd89:251::/64"), Internal: true,
	})
	if !strings.HasPrefix(a.Bridge, "hutch-") || len(a.Bridge) != 15 || a.Bridge[6:] != a.ID[:9] {
		t.Errorf("bridge name %q for ID %s", a.Bridge, a.ID)
	}
	if _, err := os.Stat(filepath.Join(root, "networks", "alpha.json")); err != nil {
		t.Fatalf("no record: %v", err)
	}
	b := mustCreate(t, m, CreateOptions{Name: "beta"})
	if got := b.Subnets[0].Subnet.String(); got != "10.89.240.0/24" {
		t.Errorf("first free subnet of the pool: %s, want 10.89.240.0/24", got)
	}
	if got := b.Subnets[0].Gateway.String(); got != "10.89.240.1" {
		t.Errorf("default gateway %s", got)
	}
	c := mustCreate(t, m, CreateOptions{Name: "gamma"})
	if got := c.Subnets[0].Subnet.String(); got != "10.89.241.0/24" {
		t.Errorf("second free subnet of the pool: %s, want 10.89.241.0/24", got)
	}

	// A second Manager on the same roots (another command) sees them all.
	m2, err := Open(root, run, WithDefaultNetwork("hbt-unit", netip.MustParsePrefix("10.89.250.0/24")))
	if err != nil {
		t.Fatal(err)
	}
	all, err := m2.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range all {
		names = append(names, n.Name)
	}
	if strings.Join(names, " ") != "bridge alpha beta gamma" {
		t.Fatalf("List: %v", names)
	}
	got, err := m2.Inspect("alpha")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || !got.Internal || got.MTU != 1400 || got.Labels["k"] != "v" || !got.IPv6() ||
		got.Subnets[0].Gateway.String() != "10.89.251.254" || got.Subnets[0].IPRange.String() != "10.89.251.128/25" ||
		got.Subnets[1].Gateway.String() != "fd89:251::1" {
		t.Fatalf("reloaded record: %+v", got)
	}
	if got, err := m2.Inspect(a.ID[:10]); err != nil || got.Name != "alpha" {
		t.Fatalf("inspect by ID prefix: %v %v", got, err)
	}
	if _, err := m2.Inspect("nosuch"); !errdefs.IsNotFound(err) {
		t.Fatalf("inspect of a missing network: %v", err)
	}
}

func TestCreateRefusals(t *testing.T) {
	m, _, _ := openTemp(t)
	mustCreate(t, m, CreateOptions{Name: "bar", Subnet: netip.MustParsePrefix("10.89.251.0/24"), Bridge: "hbt-unit-bar"})
	for _, c := range []struct {
		o    CreateOptions
		is   func(error) bool
		want string
	}{
		{CreateOptions{Name: "bar"}, errdefs.IsAlreadyExists, `network "bar" already exists`},
		{CreateOptions{Name: "foo", Subnet: netip.MustParsePrefix("10.89.251.128/25")}, errdefs.IsConflict,
			`network "foo": subnet 10.89.251.128/25 overlaps network "bar" (10.89.251.0/24)`},
		{CreateOptions{Name: "foo", Subnet: netip.MustParsePrefix("10.89.0.0/16")}, errdefs.IsConflict,
			`network "foo": subnet 10.89.0.0/16 overlaps network`},
		{CreateOptions{Name: "foo", Subnet: netip.MustParsePrefix("10.89.250.0/25")}, errdefs.IsConflict,
			`overlaps network "bridge" (10.89.250.0/24)`},
		{CreateOptions{Name: "foo", Subnet: netip.MustParsePrefix("10.89.252.5/24")}, errdefs.IsInvalidArgument,
			"has host bits set (did you mean 10.89.252.0/24?)"},
		{CreateOptions{Name: "foo", Subnet: netip.MustParsePrefix("fd00::/64")}, errdefs.IsInvalidArgument, "not an IPv4 subnet"},
		{CreateOptions{Name: "foo", Subnet: netip.MustParsePrefix("10.89.252.0/24"), Gateway: netip.MustParseAddr("10.89.253.1")}, errdefs.IsInvalidArgument, "gateway 10.89.253.1"},
		{CreateOptions{Name: "foo", Subnet: netip.MustParsePrefix("10.89.252.0/24"), IPRange: netip.MustParsePrefix("10.89.253.0/25")}, errdefs.IsInvalidArgument, "IP range"},
		{CreateOptions{Name: "foo", Bridge: "hbt-unit-bar"}, errdefs.IsConflict, `bridge hbt-unit-bar is already used by network "bar"`},
		{CreateOptions{Name: "foo", Bridge: "lo"}, errdefs.IsConflict, "an interface named lo already exists"},
		{CreateOptions{Name: "foo", Bridge: "much-too-long-a-name"}, errdefs.IsInvalidArgument, "bridge name"},
		{CreateOptions{Name: "foo", Driver: "macvlan"}, errdefs.IsNotImplemented, `driver "macvlan"`},
		{CreateOptions{Name: "foo", MTU: 10}, errdefs.IsInvalidArgument, "MTU"},
		{CreateOptions{Name: "-foo"}, errdefs.IsInvalidArgument, "invalid name"},
		{CreateOptions{Name: "host"}, errdefs.IsInvalidArgument, "reserved"},
		{CreateOptions{Name: "none"}, errdefs.IsInvalidArgument, "reserved"},
		{CreateOptions{Name: "foo", IPv6Subnet: netip.MustParsePrefix("10.89.252.0/24")}, errdefs.IsInvalidArgument, "not an IPv6 subnet"},
	} {
		_, err := m.Create(c.o)
		if err == nil || !c.is(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("create %+v: got %v, want %q", c.o, err, c.want)
		}
	}
}

func TestCreateRefusesHostRoutes(t *testing.T) {
	routes, err := (&Manager{}).foreignRoutes(nil)
	if err != nil || len(routes) == 0 {
		t.Skip("no host route to test with")
	}
	m, _, _ := openTemp(t)
	r := routes[0]
	_, err = m.Create(CreateOptions{Name: "foo", Subnet: r.Dst})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "route to "+r.Dst.String()) {
		t.Fatalf("subnet %s of a host route on %s: %v", r.Dst, r.Dev, err)
	}
}

func TestRemoveAndPrune(t *testing.T) {
	m, root, _ := openTemp(t)
	mustCreate(t, m, CreateOptions{Name: "used", Bridge: "hbt-unit-u"})
	mustCreate(t, m, CreateOptions{Name: "idle1", Bridge: "hbt-unit-1"})
	mustCreate(t, m, CreateOptions{Name: "idle2", Bridge: "hbt-unit-2"})

	// An attachment as Attach records it, without the kernel side.
	used, _ := m.lookup("used")
	l, _ := m.loadLeases(used)
	l.Attachments["0123456789abcdef"] = &Attachment{ContainerID: "0123456789abcdef", ContainerName: "web", Network: "used"}
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	err := m.Remove("used")
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), `network "used" is in use by container "web" (0123456789ab)`) {
		t.Fatalf("remove of a network in use: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("Remove deletes nftables rules: needs root")
	}
	t.Cleanup(func() { m.Firewall().Delete() })
	if err := m.Remove("idle1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "networks", "idle1.json")); !os.IsNotExist(err) {
		t.Fatalf("record left: %v", err)
	}
	if err := m.Remove("idle1"); !errdefs.IsNotFound(err) {
		t.Fatalf("second remove: %v", err)
	}
	pruned, err := m.Prune(context.Background())
	if err != nil || strings.Join(pruned, " ") != "idle2" {
		t.Fatalf("prune: %v %v, want [idle2]", pruned, err)
	}
	if _, err := m.Inspect("used"); err != nil {
		t.Fatalf("prune took a network in use: %v", err)
	}
}
