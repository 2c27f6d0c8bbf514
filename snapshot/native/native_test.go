package native

import (
	"testing"

	"hutch.dev/hutch/snapshot"
	"hutch.dev/hutch/snapshot/testsuite"
)

func TestConformance(t *testing.T) {
	testsuite.Run(t, func(root string) (snapshot.Snapshotter, error) { return New(root) })
}
