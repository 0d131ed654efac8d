// Command ratios reads `go test -bench` output and prints, for each group
// (a benchmark name without its last element, such as BenchmarkValid/HS256),
// the median ns/op, B/op and allocs/op of each implementation and its ratio
// to the group's "floor" — all from the same run.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

type sample struct{ ns, bytes, allocs []float64 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	samples := map[string]*sample{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s, ok := samples[m[1]]
		if !ok {
			s = &sample{}
			samples[m[1]] = s
			order = append(order, m[1])
		}
		for i, dst := range []*[]float64{&s.ns, &s.bytes, &s.allocs} {
			if v, err := strconv.ParseFloat(m[i+2], 64); err == nil {
				*dst = append(*dst, v)
			}
		}
	}
	fmt.Println("| benchmark | ns/op | B/op | allocs/op | ns vs floor | allocs vs floor |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, name := range order {
		s := samples[name]
		group := name[:strings.LastIndexByte(name, '/')]
		ratio, allocRatio := "", ""
		if f, ok := samples[group+"/floor"]; ok && median(f.ns) > 0 {
			ratio = fmt.Sprintf("%.2f×", median(s.ns)/median(f.ns))
			if median(f.allocs) > 0 {
				allocRatio = fmt.Sprintf("%.2f×", median(s.allocs)/median(f.allocs))
			}
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %s | %s |\n", strings.TrimPrefix(name, "Benchmark"),
			median(s.ns), median(s.bytes), median(s.allocs), ratio, allocRatio)
	}
}
