package nat

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The helpers below each build the expressions of one nft match, named as
// `nft list ruleset` prints it. All of them use register 1 only, so they
// can be put one after the other in a rule.

// ipFamily is `meta nfproto ipv4` (or ipv6): the table is inet, so every
// address match first says which header it reads.
func ipFamily(a netip.Addr) []expr.Any {
	fam := byte(unix.NFPROTO_IPV4)
	if a.Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
	}
}

// addrIn is `ip saddr PREFIX` (src) or `ip daddr PREFIX`, and `!=` with
// negate.
func addrIn(p netip.Prefix, src, negate bool) []expr.Any {
	a := p.Masked().Addr()
	var off uint32
	switch {
	case a.Is4() && src:
		off = 12
	case a.Is4():
		off = 16
	case src:
		off = 8
	default:
		off = 24
	}
	n := uint32(a.BitLen() / 8)
	op := expr.CmpOpEq
	if negate {
		op = expr.CmpOpNeq
	}
	e := ipFamily(a)
	e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n})
	if p.Bits() < a.BitLen() {
		e = append(e, &expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: n,
			Mask: net.CIDRMask(p.Bits(), a.BitLen()), Xor: make([]byte, n),
		})
	}
	return append(e, &expr.Cmp{Op: op, Register: 1, Data: a.AsSlice()})
}

// ifname is `iifname NAME` / `oifname NAME`, `!=` with negate.
func ifname(key expr.MetaKey, name string, negate bool) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	op := expr.CmpOpEq
	if negate {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

// l4port is `meta l4proto PROTO th dport PORT`.
func l4port(proto byte, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// fibDaddrLocal is `fib daddr type local`: the packet is addressed to one
// of the host's own addresses, whichever interface holds it.
func fibDaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// ctBitsClear is `ct KEY & BITS == 0` (ct state and ct status are host
// byte order bit fields).
func ctBitsClear(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4),
		},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
	}
}

// ctDNAT is `ct status dnat`.
func ctDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// ipsDstNAT is IPS_DST_NAT from linux/netfilter/nf_conntrack_common.h.
const ipsDstNAT = 1 << 5

// dnatTo is `dnat ip to ADDR:PORT`.
func dnatTo(a netip.Addr, port uint16) []expr.Any {
	fam := uint32(unix.NFPROTO_IPV4)
	if a.Is6() {
		fam = unix.NFPROTO_IPV6
	}
	p := make([]byte, 2)
	binary.BigEndian.PutUint16(p, port)
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a.AsSlice()},
		&expr.Immediate{Register: 2, Data: p},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }
func drop() expr.Any             { return &expr.Verdict{Kind: expr.VerdictDrop} }
func masquerade() expr.Any       { return &expr.Masq{} }

func cat(parts ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}
