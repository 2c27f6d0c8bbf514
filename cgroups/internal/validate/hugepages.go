package validate

import (
	"os"
	"strconv"
	"strings"
)

// HugePageSizes lists the machine's huge page sizes as the cgroup files
// name them ("2MB", "1GB"), from the sysfs directory of the hugepages
// (/sys/kernel/mm/hugepages/hugepages-2048kB ...). It returns nil when
// the directory cannot be read, which skips the check.
func HugePageSizes(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	sizes := []string{}
	for _, e := range ents {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		kb, ok = strings.CutSuffix(kb, "kB")
		n, err := strconv.ParseUint(kb, 10, 64)
		if !ok || err != nil {
			continue
		}
		sizes = append(sizes, PageSizeName(n*1024))
	}
	return sizes
}

// PageSizeName spells a page size in bytes the way the hugetlb files do:
// the largest unit that divides it ("2MB", "1GB", "64KB").
func PageSizeName(bytes uint64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	i := 0
	for bytes >= 1024 && bytes%1024 == 0 && i < len(units)-1 {
		bytes /= 1024
		i++
	}
	return strconv.FormatUint(bytes, 10) + units[i]
}
