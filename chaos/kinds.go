package chaos

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

func kindResults(fs []FaultResult) []KindResult {
	var kinds []Kind
	by := map[Kind][]FaultResult{}
	for _, f := range fs {
		if _, ok := by[f.Kind]; !ok {
			kinds = append(kinds, f.Kind)
		}
		by[f.Kind] = append(by[f.Kind], f)
	}
	slices.SortFunc(kinds, func(a, b Kind) int { return cmp.Compare(kindOrder(a), kindOrder(b)) })
	var out []KindResult
	for _, k := range kinds {
		fs := by[k]
		kr := KindResult{Kind: k, Count: len(fs)}
		gs := make([]time.Duration, len(fs))
		fg := make([]time.Duration, len(fs))
		var og []time.Duration
		parts := 0
		for i, f := range fs {
			gs[i], fg[i] = f.Gap, f.FirstGrant
			if f.Others > 0 {
				og = append(og, f.OtherGap)
			}
			parts += len(f.Partitions)
			kr.Moved += f.Changes
			kr.Lost += f.Lost
			kr.LostMax = max(kr.LostMax, f.Lost)
			kr.Unknown += f.Unknown
			kr.WorstClientMax = max(kr.WorstClientMax, f.WorstClient)
			if f.Changes > 0 {
				kr.LeaderChange++
			}
			if f.OverBound {
				kr.OverBound++
			}
			if f.OverShare {
				kr.OverShare++
			}
		}
		kr.GapP50, kr.GapP99, kr.GapMax = percentile(gs, 0.50), percentile(gs, 0.99), percentile(gs, 1)
		kr.OtherCount, kr.OtherGapP99, kr.OtherGapMax = len(og), percentile(og, 0.99), percentile(og, 1)
		kr.Partitions = float64(parts) / float64(len(fs))
		kr.FirstP50, kr.FirstP99 = percentile(fg, 0.50), percentile(fg, 0.99)
		out = append(out, kr)
	}
	return out
}

// percentile is the nearest-rank percentile p (0 < p <= 1) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// messages collects findings, keeping the first few of each run of
// similar ones in full.
type messages struct {
	list []string
}

func (m *messages) add(format string, args ...any) {
	m.list = append(m.list, fmt.Sprintf(format, args...))
}

// maxMessages bounds the findings kept in a Result; the rest are counted.
const maxMessages = 50

func (m *messages) out() []string {
	if len(m.list) <= maxMessages {
		return m.list
	}
	out := slices.Clone(m.list[:maxMessages])
	return append(out, fmt.Sprintf("... and %d more", len(m.list)-maxMessages))
}
