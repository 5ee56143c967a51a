package chaos

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// svgElem is an element of a drawn SVG with the attributes the tests read.
type svgElem struct {
	name, class, title string
	x, width           string
}

// parseSVG checks that b is well-formed XML and lists its elements; a
// group's title is its first title child.
func parseSVG(t *testing.T, b []byte) []svgElem {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var out []svgElem
	var inTitle bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%.500s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := svgElem{name: tok.Name.Local}
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "class":
					e.class = a.Value
				case "x":
					e.x = a.Value
				case "width":
					e.width = a.Value
				}
			}
			inTitle = e.name == "title"
			out = append(out, e)
		case xml.CharData:
			if inTitle && len(out) > 1 {
				out[len(out)-2].title += string(tok)
			}
		case xml.EndElement:
			inTitle = false
		}
	}
}

func count(es []svgElem, name, class string) []svgElem {
	var out []svgElem
	for _, e := range es {
		if e.name == name && e.class == class {
			out = append(out, e)
		}
	}
	return out
}

// TestTimeline draws a run of 3 s with grants every 10 ms but from 1.0 s to
// 1.5 s, a leader change at 1.2 s and one kill: the picture has one gap of
// 5 bins, two leader spans and one fault marker that names its kind.
func TestTimeline(t *testing.T) {
	h := &History{Seed: 7, End: 3 * time.Second}
	for at := 5 * time.Millisecond; at < 3*time.Second; at += 10 * time.Millisecond {
		if at >= time.Second && at < 1500*time.Millisecond {
			continue
		}
		h.Acquires = append(h.Acquires, Acquire{Send: at - time.Millisecond, Reply: at, Outcome: Granted, Granted: 1, N: 1})
	}
	for at := 50 * time.Millisecond; at < 3*time.Second; at += 100 * time.Millisecond {
		leader := "node-a"
		if at > 1200*time.Millisecond {
			leader = "node-b"
		}
		h.Queries = append(h.Queries, Query{Reply: at, Outcome: Granted, Leader: leader})
	}
	h.Faults = []Fault{{Kind: KillLeader, Target: "node-a", At: time.Second, Healed: 2 * time.Second, Detail: "kill -9"}}

	var b bytes.Buffer
	if err := WriteTimeline(&b, h); err != nil {
		t.Fatal(err)
	}
	es := parseSVG(t, b.Bytes())
	if g := count(es, "rect", "gap"); len(g) != 1 {
		t.Fatalf("%d gaps drawn, want 1", len(g))
	} else if bins := emptyBins(grantBins(h), h.End); len(bins) != 1 || bins[0] != [2]int{10, 15} {
		t.Fatalf("empty bins %v, want [10 15)", bins)
	}
	leaders := count(es, "g", "leader")
	if len(leaders) != 2 || !strings.HasPrefix(leaders[0].title, "node-a") || !strings.HasPrefix(leaders[1].title, "node-b") {
		t.Fatalf("leader spans %+v, want node-a then node-b", leaders)
	}
	faults := count(es, "g", "fault")
	if len(faults) != 1 || !strings.Contains(faults[0].title, "kill9 node-a at 1s") {
		t.Fatalf("fault markers %+v, want the kill9 of node-a at 1s", faults)
	}
	if len(count(es, "polyline", "grants")) != 1 {
		t.Fatal("no grants line")
	}
}

// TestTimelinePartitions draws two partitions: a band for each from the
// election keys, with the 100 ms without a grant of partition 0 darkened
// while partition 1 goes on.
func TestTimelinePartitions(t *testing.T) {
	h := &History{Seed: 7, End: 3 * time.Second, Partitions: 2,
		SKUs: []SKU{{Name: "a", Partition: 0}, {Name: "b", Partition: 1}}}
	for at := 5 * time.Millisecond; at < 3*time.Second; at += 10 * time.Millisecond {
		h.Acquires = append(h.Acquires, Acquire{SKU: 1, Send: at - time.Millisecond, Reply: at, Outcome: Granted, Granted: 1, N: 1})
		if at < time.Second || at >= 1500*time.Millisecond {
			h.Acquires = append(h.Acquires, Acquire{SKU: 0, Send: at - time.Millisecond, Reply: at, Outcome: Granted, Granted: 1, N: 1})
		}
	}
	h.Leaders = []LeaderChange{
		{Partition: 0, Node: "r0", Lo: 0, Hi: time.Millisecond},
		{Partition: 0, Node: "r1", Lo: 1400 * time.Millisecond, Hi: 1410 * time.Millisecond},
		{Partition: 1, Node: "r1", Lo: 0, Hi: time.Millisecond},
	}
	h.Faults = []Fault{{Kind: KillLeader, Target: "r0", Partitions: []int{0}, At: time.Second, Healed: 2 * time.Second}}
	var b bytes.Buffer
	if err := WriteTimeline(&b, h); err != nil {
		t.Fatal(err)
	}
	es := parseSVG(t, b.Bytes())
	if g := count(es, "rect", "gap"); len(g) != 0 {
		t.Errorf("%d gaps drawn: partition 1 granted throughout", len(g))
	}
	if g := count(es, "rect", "pgap"); len(g) != 1 {
		t.Errorf("%d partition gaps drawn, want 1", len(g))
	}
	leaders := count(es, "g", "leader")
	if len(leaders) != 3 || !strings.HasPrefix(leaders[0].title, "r0 leads partition 0") || !strings.HasPrefix(leaders[1].title, "r1 leads partition 0, 1.4s") ||
		!strings.HasPrefix(leaders[2].title, "r1 leads partition 1") {
		t.Errorf("leader spans %+v", leaders)
	}
}
