// Package nat keeps hutch's nftables table: masquerade for traffic that
// leaves a bridge network, isolation of internal networks, and the DNAT
// rules of published ports. It uses one table of its own (inet family, so
// one table covers IPv4 and IPv6) and never touches anyone else's.
//
// Every rule carries a comment naming its owner, "net BRIDGE" for the rules
// of one network and "ctr CONTAINERID" for the ports of one container, so
// that they can be found and removed from the kernel's state alone, after
// a crash too. `nft list table inet hutch` shows them:
//
//	table inet hutch {
//	  chain prerouting  { type nat hook prerouting priority dstnat;
//	                      fib daddr type local jump hostports }
//	  chain output      { type nat hook output priority -100;
//	                      fib daddr type local jump hostports }
//	  chain hostports   { ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 10.88.0.2:80 comment "ctr ID"
//	                      meta l4proto udp th dport 53 dnat ip to 10.88.0.2:53 comment "ctr ID" }
//	  chain postrouting { type nat hook postrouting priority srcnat;
//	                      ip saddr 127.0.0.0/8 ct status dnat masquerade
//	                      oifname BR ip saddr SUBNET ct status dnat masquerade comment "net BR"
//	                      ip saddr SUBNET oifname != BR masquerade comment "net BR" }
//	  chain forward     { type filter hook forward priority filter;
//	                      oifname BR iifname != BR ct state & (established|related) == 0
//	                          ct status & dnat == 0 drop comment "net BR" }
//	  chain raw         { type filter hook prerouting priority raw;
//	                      iifname BR ip daddr 127.0.0.0/8 drop comment "net BR" }
//	}
package nat

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// DefaultTable is the name of hutch's table.
const DefaultTable = "hutch"

// The chains of the table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainHostports   = "hostports"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
	chainRaw         = "raw"
)

// Firewall is one nftables table.
type Firewall struct {
	table *nftables.Table
}

// New returns the firewall of the table named name (DefaultTable outside
// tests). Nothing is created before the first Add.
func New(name string) *Firewall {
	return &Firewall{table: &nftables.Table{Name: name, Family: nftables.TableFamilyINet}}
}

// Table is the table's name.
func (f *Firewall) Table() string { return f.table.Name }

func (f *Firewall) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: f.table}
}

// conn opens one netlink socket for all the requests of an operation,
// instead of one per request.
func conn() (*nftables.Conn, func(), error) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, nil, fmt.Errorf("nftables: %w", err)
	}
	return c, func() { c.CloseLasting() }, nil
}

// ensureTable creates the table unless it exists.
func (f *Firewall) ensureTable(c *nftables.Conn) error {
	if t, err := c.ListTableOfFamily(f.table.Name, f.table.Family); err == nil && t != nil {
		return nil
	}
	return f.createTable(c)
}

// createTable creates the table, its chains and the rules that belong to
// no network. The creation is one batch that starts with an exclusive table
// create, so of two racing callers one creates everything and the other
// gets EEXIST and nothing twice.
func (f *Firewall) createTable(c *nftables.Conn) error {
	c.CreateTable(f.table)
	accept := nftables.ChainPolicyAccept
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{
			Name: name, Table: f.table, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept,
		})
	}
	pre := base(chainPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	out := base(chainOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	post := base(chainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	base(chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	base(chainRaw, nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw)
	c.AddChain(f.chain(chainHostports))

	// Published ports apply to packets addressed to any of the host's own
	// addresses, arriving from outside (prerouting) or made on the host
	// itself (output, which is how 127.0.0.1:HOSTPORT reaches a container).
	c.AddRule(&nftables.Rule{Table: f.table, Chain: pre, Exprs: cat(fibDaddrLocal(), []expr.Any{jump(chainHostports)})})
	c.AddRule(&nftables.Rule{Table: f.table, Chain: out, Exprs: cat(fibDaddrLocal(), []expr.Any{jump(chainHostports)})})
	// A connection from 127.0.0.1 that output DNATed to a container leaves
	// through a bridge with a loopback source the container cannot answer
	// to: it gets the bridge's address instead.
	c.AddRule(&nftables.Rule{Table: f.table, Chain: post, Exprs: cat(
		addrIn(netip.MustParsePrefix("127.0.0.0/8"), true, false), ctDNAT(), []expr.Any{masquerade()})})
	err := c.Flush()
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nftables table inet %s: create: %w", f.table.Name, err)
	}
	return nil
}

func comment(s string) []byte { return userdata.AppendString(nil, userdata.TypeComment, s) }

func ruleComment(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// NetworkTag is the comment on the rules of the network of bridge.
func NetworkTag(bridge string) string { return "net " + bridge }

// ContainerTag is the comment on the port rules of container id on the
// network of bridge. With bridge "" it is the prefix of all of them: the
// trailing space keeps one ID from matching another that it begins.
func ContainerTag(id, bridge string) string { return "ctr " + id + " " + bridge }

func (f *Firewall) removeTagged(c *nftables.Conn, tag string, chains ...string) (int, error) {
	return f.removeMatching(c, func(s string) bool { return s == tag }, chains...)
}

// removeMatching queues the deletion of every rule in chains whose comment
// matches, and returns how many it found.
func (f *Firewall) removeMatching(c *nftables.Conn, match func(string) bool, chains ...string) (int, error) {
	n := 0
	for _, name := range chains {
		rules, err := c.GetRules(f.table, f.chain(name))
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return 0, fmt.Errorf("nftables chain %s: list: %w", name, err)
		}
		for _, r := range rules {
			if match(ruleComment(r)) {
				if err := c.DelRule(r); err != nil {
					return 0, err
				}
				n++
			}
		}
	}
	return n, nil
}

var allChains = []string{chainPrerouting, chainOutput, chainHostports, chainPostrouting, chainForward, chainRaw}

// Count returns how many rules of the table carry the comment tag; 0 when
// the table does not exist.
func (f *Firewall) Count(tag string) (int, error) {
	c, done, err := conn()
	if err != nil {
		return 0, err
	}
	defer done()
	return f.count(c, tag, allChains...)
}

// count counts the rules tagged tag in chains (a missing chain counts none).
func (f *Firewall) count(c *nftables.Conn, tag string, chains ...string) (int, error) {
	n := 0
	for _, name := range chains {
		rules, err := c.GetRules(f.table, f.chain(name))
		if err != nil {
			return 0, err
		}
		for _, r := range rules {
			if ruleComment(r) == tag {
				n++
			}
		}
	}
	return n, nil
}

// Delete removes the whole table: for tests, and for an uninstall.
func (f *Firewall) Delete() error {
	c, done, err := conn()
	if err != nil {
		return err
	}
	defer done()
	c.DelTable(f.table)
	if err := c.Flush(); err != nil && !isNotFound(err) {
		return fmt.Errorf("nftables table inet %s: delete: %w", f.table.Name, err)
	}
	return nil
}

func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "no such file"))
}
