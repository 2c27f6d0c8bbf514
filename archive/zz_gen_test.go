package archive

import (
	"bufio"
	"context"
	"os"
	"testing"
	"time"
)

func TestZZGen(t *testing.T) {
	out := os.Getenv("GEN")
	if out == "" {
		t.Skip()
	}
	f, _ := os.Create(out)
	bw := bufio.NewWriter(f)
	benchLayer(&testing.B{}, bw)
	bw.Flush()
	f.Close()
}

func TestZZApply(t *testing.T) {
	in := os.Getenv("APPLY")
	if in == "" {
		t.Skip()
	}
	f, _ := os.Open(in)
	st := time.Now()
	_, err := Apply(context.Background(), os.Getenv("DST"), f)
	t.Log(time.Since(st), err)
}
