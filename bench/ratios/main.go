// Command ratios reads the output of several `go test -bench` passes (each
// pass runs every benchmark once, so all implementations of a group run
// within seconds of each other, interleaved with the other groups) and
// prints, from that one run:
//
//   - per benchmark, the median ns/op, B/op and allocs/op over the passes,
//     the spread of ns/op (min–max as a percentage of the median), and the
//     median of the per-pass ratios to the group's "floor" with their
//     min–max;
//   - per group, auth against each other implementation: the median of
//     the per-pass ratios auth/other with their min–max, called a tie when
//     that range contains 1;
//   - per algorithm, auth's time minus the raw signature check
//     (Signature/<alg>/raw) and minus golang-jwt's (Signature/<alg>/jwt),
//     median and min–max of the per-pass differences.
//
// A group is a benchmark name without its last element, such as
// Valid/HS256. A pass starts at each "goos:" line.
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

var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

type result struct{ ns, bytes, allocs float64 }

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

// stat is a median with the range it came from.
type stat struct{ med, lo, hi float64 }

func statOf(v []float64) stat {
	return stat{median(v), slices.Min(v), slices.Max(v)}
}

func main() {
	var passes []map[string]result
	var order []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "goos:") || passes == nil {
			passes = append(passes, map[string]result{})
		}
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var r result
		for i, dst := range []*float64{&r.ns, &r.bytes, &r.allocs} {
			if v, err := strconv.ParseFloat(m[i+2], 64); err == nil {
				*dst = v
			}
		}
		passes[len(passes)-1][m[1]] = r
		if !seen[m[1]] {
			seen[m[1]] = true
			order = append(order, m[1])
		}
	}
	// across collects f over the passes that have all of names.
	across := func(f func(p map[string]result) float64, names ...string) []float64 {
		var v []float64
	pass:
		for _, p := range passes {
			for _, n := range names {
				if _, ok := p[n]; !ok {
					continue pass
				}
			}
			v = append(v, f(p))
		}
		return v
	}
	n := 0
	for _, p := range passes {
		if len(p) > 0 {
			n++
		}
	}
	fmt.Printf("%d passes\n\n", n)

	fmt.Println("| benchmark | ns/op | spread | B/op | allocs/op | vs floor | floor ratio range |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	var spreads []float64
	for _, name := range order {
		ns := across(func(p map[string]result) float64 { return p[name].ns }, name)
		by := across(func(p map[string]result) float64 { return p[name].bytes }, name)
		al := across(func(p map[string]result) float64 { return p[name].allocs }, name)
		s := statOf(ns)
		spread := (s.hi - s.lo) / s.med * 100
		spreads = append(spreads, spread)
		group := name[:strings.LastIndexByte(name, '/')]
		ratio, rng := "", ""
		if fl := group + "/floor"; seen[fl] && fl != name {
			r := statOf(across(func(p map[string]result) float64 { return p[name].ns / p[fl].ns }, name, fl))
			ratio = fmt.Sprintf("%.2f×", r.med)
			rng = fmt.Sprintf("%.2f–%.2f", r.lo, r.hi)
		}
		fmt.Printf("| %s | %.0f | %.0f%% | %.0f | %.0f | %s | %s |\n", name, s.med, spread, median(by), median(al), ratio, rng)
	}
	fmt.Printf("\nns/op spread (max−min over the passes, %% of the median): median %.0f%%, largest %.0f%%\n",
		median(spreads), slices.Max(spreads))

	fmt.Println("\n## auth against each other implementation (per-pass ratios auth/other)")
	fmt.Println()
	fmt.Println("| group | vs | auth/other | range | verdict |")
	fmt.Println("|---|---|---:|---:|---|")
	for _, name := range order {
		group, impl := name[:strings.LastIndexByte(name, '/')], name[strings.LastIndexByte(name, '/')+1:]
		ours := group + "/auth"
		if impl == "auth" || impl == "none" || !seen[ours] {
			continue
		}
		r := statOf(across(func(p map[string]result) float64 { return p[ours].ns / p[name].ns }, ours, name))
		verdict := "auth faster"
		switch {
		case r.lo <= 1 && r.hi >= 1:
			verdict = "tie (inside the noise)"
		case r.lo > 1:
			verdict = "auth slower"
		}
		fmt.Printf("| %s | %s | %.2f× | %.2f–%.2f | %s |\n", group, impl, r.med, r.lo, r.hi, verdict)
	}

	fmt.Println("\n## auth minus the signature check (µs, per-pass differences)")
	fmt.Println()
	fmt.Println("| algorithm | auth | raw check | auth − raw | range | golang-jwt check | auth − golang-jwt's | floor − raw |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, name := range order {
		if !strings.HasPrefix(name, "Valid/") || !strings.HasSuffix(name, "/auth") {
			continue
		}
		alg := strings.TrimSuffix(strings.TrimPrefix(name, "Valid/"), "/auth")
		raw, jwt, fl := "Signature/"+alg+"/raw", "Signature/"+alg+"/jwt", "Valid/"+alg+"/floor"
		if !seen[raw] || !seen[jwt] {
			continue
		}
		us := func(a, b string) stat {
			return statOf(across(func(p map[string]result) float64 { return (p[a].ns - p[b].ns) / 1000 }, a, b))
		}
		d, dj, df := us(name, raw), us(name, jwt), us(fl, raw)
		med := func(n string) float64 {
			return median(across(func(p map[string]result) float64 { return p[n].ns / 1000 }, n))
		}
		fmt.Printf("| %s | %.1f | %.1f | **%.1f** | %.1f–%.1f | %.1f | %.1f | %.1f |\n",
			alg, med(name), med(raw), d.med, d.lo, d.hi, med(jwt), dj.med, df.med)
	}
}
