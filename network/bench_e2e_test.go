package network

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAttachDetach measures one Attach (bridge present: veth, address,
// route, rules of the network checked) and its Detach, the namespace made
// beforehand.
func BenchmarkAttachDetach(b *testing.B) {
	e := newEnvB(b)
	nss := make([]string, b.N)
	for i := range b.N {
		nss[i] = e.netnsB(b, fmt.Sprintf("b%d", i))
	}
	// The first attach makes the bridge and the table: not what is timed.
	warm, _ := e.m.Attach(context.Background(), AttachRequest{ContainerID: randHex(32), NetnsPath: e.netnsB(b, "warm")})
	b.ResetTimer()
	for i := range b.N {
		att, err := e.m.Attach(context.Background(), AttachRequest{ContainerID: randHex(32), NetnsPath: nss[i],
			Ports: []PortMapping{{ContainerPort: 80}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.m.Detach(context.Background(), att.ContainerID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	e.m.Detach(context.Background(), warm.ContainerID)
}
