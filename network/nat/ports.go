package nat

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Port is one published port: packets to HostIP:HostPort (any of the
// host's addresses when HostIP is not valid) go to ContainerIP:ContainerPort.
type Port struct {
	HostIP        netip.Addr
	HostPort      uint16
	Protocol      string // "tcp" or "udp"
	ContainerIP   netip.Addr
	ContainerPort uint16
}

func protoNumber(p string) (byte, error) {
	switch p {
	case "tcp", "":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	}
	return 0, fmt.Errorf("protocol %q: want tcp or udp", p)
}

func (p Port) exprs() ([]expr.Any, error) {
	proto, err := protoNumber(p.Protocol)
	if err != nil {
		return nil, err
	}
	var e []expr.Any
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		if p.HostIP.Is4() != p.ContainerIP.Is4() {
			return nil, fmt.Errorf("port %s:%d: host and container addresses of different families", p.HostIP, p.HostPort)
		}
		e = addrIn(netip.PrefixFrom(p.HostIP, p.HostIP.BitLen()), false, false)
	} else {
		// The DNAT target's family decides which packets this rule may
		// take: an IPv4 container only IPv4 ones.
		e = ipFamily(p.ContainerIP)
	}
	return cat(e, l4port(proto, p.HostPort), dnatTo(p.ContainerIP, p.ContainerPort)), nil
}

// AddPorts adds the DNAT rules of ports of container id on the network of
// bridge, tagged ContainerTag(id, bridge), in one batch: all or none.
func (f *Firewall) AddPorts(id, bridge string, ports []Port) error {
	owner := ContainerTag(id, bridge)
	if len(ports) == 0 {
		return nil
	}
	var rules []*nftables.Rule
	for _, p := range ports {
		e, err := p.exprs()
		if err != nil {
			return fmt.Errorf("container %s: %w", id, err)
		}
		rules = append(rules, &nftables.Rule{Table: f.table, Chain: f.chain(chainHostports), Exprs: e, UserData: comment(owner)})
	}
	c, done, err := conn()
	if err != nil {
		return err
	}
	defer func() { done() }()
	add := func() error {
		for _, r := range rules {
			c.AddRule(r)
		}
		return c.Flush()
	}
	err = add()
	if isNotFound(err) {
		// No table yet (AddNetwork comes first in an attach, but this is
		// usable alone): make it and try once more, on a fresh socket as
		// the failed batch may have left replies unread.
		done()
		if c, done, err = conn(); err != nil {
			return err
		}
		if err = f.createTable(c); err == nil {
			err = add()
		}
	}
	if err != nil {
		return fmt.Errorf("container %s: published ports: nftables: %w", id, err)
	}
	return nil
}

// RemovePorts deletes the port rules of container id on the network of
// bridge, or on every network when bridge is ""; none is not an error.
func (f *Firewall) RemovePorts(id, bridge string) error {
	c, done, err := conn()
	if err != nil {
		return err
	}
	defer done()
	match := func(tag string) bool { return tag == ContainerTag(id, bridge) }
	if bridge == "" {
		match = func(tag string) bool { return strings.HasPrefix(tag, ContainerTag(id, "")) }
	}
	n, err := f.removeMatching(c, match, chainHostports)
	if err != nil || n == 0 {
		return err
	}
	if err := c.Flush(); err != nil && !isNotFound(err) {
		return fmt.Errorf("container %s: published ports: nftables: %w", id, err)
	}
	return nil
}
