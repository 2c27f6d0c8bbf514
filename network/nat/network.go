package nat

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Network is what the firewall needs to know of one bridge network.
type Network struct {
	Bridge  string
	Subnets []netip.Prefix
	// Internal networks get no masquerade and no forwarding across the
	// bridge's edge in either direction.
	Internal bool
}

var loopback4 = netip.MustParsePrefix("127.0.0.0/8")

// networkChains are the chains that hold rules of networks.
var networkChains = []string{chainRaw, chainForward, chainPostrouting}

// rules returns the network's rules, each with the chain it goes to.
func (f *Firewall) networkRules(n Network) map[string][][]expr.Any {
	r := map[string][][]expr.Any{}
	add := func(chain string, e ...[]expr.Any) { r[chain] = append(r[chain], cat(e...)) }
	in := func(negate bool) []expr.Any { return ifname(expr.MetaKeyIIFNAME, n.Bridge, negate) }
	out := func(negate bool) []expr.Any { return ifname(expr.MetaKeyOIFNAME, n.Bridge, negate) }

	// route_localnet (set on the bridge for published ports on 127.0.0.1)
	// would also let a container send packets to 127.0.0.1 through the
	// bridge and reach the host's loopback-only services (CVE-2020-8558):
	// nothing addressed to 127.0.0.0/8 may come in from a bridge.
	add(chainRaw, in(false), addrIn(loopback4, false, false), []expr.Any{drop()})

	if n.Internal {
		// No way out and no way in, except between the containers of the
		// network (which stay on the bridge) and the host itself (input
		// and output are not forwarding).
		add(chainForward, in(false), out(true), []expr.Any{drop()})
		add(chainForward, out(false), in(true), []expr.Any{drop()})
	} else {
		// From elsewhere, only the replies to what the containers started
		// and the connections to published ports (DNATed) get in, as with
		// Docker: another network's containers or a host routed to this
		// subnet cannot open connections to unpublished ports.
		add(chainForward, out(false), in(true),
			ctBitsClear(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED),
			ctBitsClear(expr.CtKeySTATUS, ipsDstNAT), []expr.Any{drop()})
	}
	for _, s := range n.Subnets {
		// Hairpin: a container that connects to a port published on the
		// host's address, and is DNATed to a container of its own network,
		// would get the reply straight from that container, with an
		// address it did not talk to. Masquerading sends the reply back
		// through the host.
		add(chainPostrouting, out(false), addrIn(s, true, false), ctDNAT(), []expr.Any{masquerade()})
		if !n.Internal {
			add(chainPostrouting, addrIn(s, true, false), out(true), []expr.Any{masquerade()})
		}
	}
	return r
}

// AddNetwork makes the table if needed and adds the network's rules,
// replacing any it had (so calling it again repairs a partly deleted set
// and never duplicates one). The deletion of the old rules and the
// addition of the new ones are one batch, which the kernel applies
// atomically.
//
// Called on every Attach, it costs three rule dumps when all is in place.
func (f *Firewall) AddNetwork(n Network) error {
	c, done, err := conn()
	if err != nil {
		return err
	}
	defer done()
	tag := NetworkTag(n.Bridge)
	want := f.networkRules(n)
	total := 0
	for _, rs := range want {
		total += len(rs)
	}
	have, err := f.count(c, tag, networkChains...)
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Bridge, err)
	}
	if have == total {
		return nil
	}
	// A dump of a missing table's chain is empty, not an error: none of
	// our rules may mean no table.
	if have == 0 {
		if err := f.ensureTable(c); err != nil {
			return err
		}
	}
	if _, err := f.removeTagged(c, tag, networkChains...); err != nil {
		return fmt.Errorf("network %s: %w", n.Bridge, err)
	}
	for chain, rs := range want {
		for _, e := range rs {
			c.AddRule(&nftables.Rule{Table: f.table, Chain: f.chain(chain), Exprs: e, UserData: comment(tag)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network %s: nftables: %w", n.Bridge, err)
	}
	return nil
}

// RemoveNetwork deletes the network's rules; none left is not an error.
func (f *Firewall) RemoveNetwork(bridge string) error {
	c, done, err := conn()
	if err != nil {
		return err
	}
	defer done()
	n, err := f.removeTagged(c, NetworkTag(bridge), networkChains...)
	if err != nil {
		return fmt.Errorf("network %s: %w", bridge, err)
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network %s: nftables: %w", bridge, err)
	}
	return nil
}
