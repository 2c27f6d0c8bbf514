package engine

import (
	"context"

	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/image"
	"hutch.dev/hutch/volume"
)

// DiskUsage is `system df`: what images, containers and volumes hold
// on disk.
type DiskUsage struct {
	Images     []ImageUsage
	Containers []ContainerUsage
	Volumes    []VolumeUsage
	// ImagesSize counts each blob once, however many images share it;
	// ImagesReclaimable is what removing every image no container uses
	// would free.
	ImagesSize        int64
	ImagesReclaimable int64
}

// ImageUsage is one image's line of `system df -v`.
type ImageUsage struct {
	Image      *image.Image
	Size       int64 // all its blobs
	SharedSize int64 // its blobs that other images hold too
	Containers int   // containers made from it
}

// ContainerUsage is one container's line of `system df -v`: Size is its
// writable layer.
type ContainerUsage struct {
	Container *Container
	Size      int64
}

// VolumeUsage is one volume's line of `system df -v`: Links is the number
// of containers that use it.
type VolumeUsage struct {
	Name  string
	Links int
	Size  int64
}

// DiskUsage measures images, containers and volumes.
func (e *Engine) DiskUsage(ctx context.Context) (*DiskUsage, error) {
	if err := e.open(); err != nil {
		return nil, err
	}
	cs, err := e.List()
	if err != nil {
		return nil, err
	}
	du := &DiskUsage{}
	users := map[digest.Digest]int{}
	for _, c := range cs {
		users[digest.Digest(c.ImageID)]++
		u, _ := e.sn.Usage(ctx, c.Snapshot)
		du.Containers = append(du.Containers, ContainerUsage{Container: c, Size: u.Size})
	}
	imgs, err := e.images.Images()
	if err != nil {
		return nil, err
	}
	holders := map[digest.Digest]int{} // blob -> images holding it
	sizes := map[digest.Digest]int64{}
	active := map[digest.Digest]bool{} // blobs of images in use
	for _, img := range imgs {
		for d, n := range blobsOf(img) {
			holders[d]++
			sizes[d] = n
			if users[img.ID] > 0 {
				active[d] = true
			}
		}
	}
	for d, n := range sizes {
		du.ImagesSize += n
		if !active[d] {
			du.ImagesReclaimable += n
		}
	}
	for _, img := range imgs {
		iu := ImageUsage{Image: img, Containers: users[img.ID]}
		for d, n := range blobsOf(img) {
			iu.Size += n
			if holders[d] > 1 {
				iu.SharedSize += n
			}
		}
		du.Images = append(du.Images, iu)
	}
	vs, err := e.volumes()
	if err != nil {
		return nil, err
	}
	if vs != nil {
		vols, err := vs.List(volume.Filters{})
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			n, _ := vs.Usage(v.Name)
			du.Volumes = append(du.Volumes, VolumeUsage{Name: v.Name, Links: len(v.UsedBy), Size: n})
		}
	}
	return du, nil
}
