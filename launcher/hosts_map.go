package launcher

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MapOptions are the placement flags of `mpx run`.
type MapOptions struct {
	// NP is the number of ranks (-n); zero means one per slot, or N per
	// node with ppr:N:node and --npernode, as in Open MPI.
	NP int
	// MapBy is "slot" (also the zero value: fill each node's slots in
	// turn), "node" (round-robin over nodes) or "ppr:N:node" (N ranks on
	// each node).
	MapBy string
	// NPerNode is -N/--npernode: the same as ppr:N:node. Zero means unset.
	NPerNode int
	// Oversubscribe allows more ranks on a node than its slots, up to its
	// max_slots.
	Oversubscribe bool
}

// NodePlan is one node of a job map and the ranks it runs.
type NodePlan struct {
	Host  Host
	ID    int   // node id (MPX_NODE_ID), the node's index in JobMap.Nodes
	Ranks []int // world ranks on the node, ascending; local rank = index
}

// JobMap says which node runs each rank.
type JobMap struct {
	Nodes []NodePlan // nodes with at least one rank, in host-list order
	Size  int
	// Oversubscribed is true when some node runs more ranks than slots;
	// binding then defaults to none, as in Open MPI.
	Oversubscribed bool
	// RankNode and RankLocal give, per world rank, its node id and local rank.
	RankNode, RankLocal []int
}

// ErrNotEnoughSlots is returned (wrapped) when a job asks for more ranks
// than the hosts offer without --oversubscribe.
var ErrNotEnoughSlots = errors.New("not enough slots")

// parsedMap is MapOptions.MapBy read.
type parsedMap struct {
	policy string // "slot", "node", "ppr"
	ppr    int
}

func parseMapBy(opt MapOptions) (parsedMap, error) {
	m := parsedMap{policy: "slot"}
	switch s := strings.ToLower(strings.TrimSpace(opt.MapBy)); {
	case s == "" || s == "slot" || s == "core":
	case s == "node":
		m.policy = "node"
	case strings.HasPrefix(s, "ppr:"):
		f := strings.Split(s, ":")
		if len(f) != 3 || f[2] != "node" {
			return m, fmt.Errorf("--map-by %q: want ppr:N:node", opt.MapBy)
		}
		n, err := parseCount(f[1], 1)
		if err != nil {
			return m, fmt.Errorf("--map-by %q: N %v", opt.MapBy, err)
		}
		m.policy, m.ppr = "ppr", n
	default:
		return m, fmt.Errorf("--map-by %q: want slot, node or ppr:N:node", opt.MapBy)
	}
	if opt.NPerNode < 0 {
		return m, fmt.Errorf("--npernode %d: want a positive count", opt.NPerNode)
	}
	if opt.NPerNode > 0 {
		if m.policy == "ppr" && m.ppr != opt.NPerNode || m.policy == "node" {
			return m, fmt.Errorf("--npernode %d conflicts with --map-by %s", opt.NPerNode, opt.MapBy)
		}
		m.policy, m.ppr = "ppr", opt.NPerNode
	}
	return m, nil
}

// MapRanks places the job's ranks on hosts, following Open MPI's rules:
// without --oversubscribe no node gets more ranks than slots; with it, the
// ranks past the slots are spread evenly, never past a node's max_slots.
func MapRanks(hosts []Host, opt MapOptions) (*JobMap, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no hosts to place ranks on")
	}
	if opt.NP < 0 {
		return nil, fmt.Errorf("-n %d: want a positive number of ranks", opt.NP)
	}
	pm, err := parseMapBy(opt)
	if err != nil {
		return nil, err
	}
	np := opt.NP
	if np == 0 {
		np = TotalSlots(hosts)
		if pm.policy == "ppr" {
			np = pm.ppr * len(hosts)
		}
	}
	if np > maxSlotCount {
		return nil, fmt.Errorf("-n %d: more than %d ranks", np, maxSlotCount)
	}
	counts := make([]int, len(hosts)) // ranks per host
	var order []int                   // host index of each rank, for map-by node
	switch pm.policy {
	case "slot":
		err = countBySlot(hosts, np, opt.Oversubscribe, counts)
	case "node":
		order, err = countByNode(hosts, np, opt.Oversubscribe, counts)
	case "ppr":
		err = countPPR(hosts, np, pm.ppr, opt.Oversubscribe, counts)
	}
	if err != nil {
		return nil, err
	}
	if order == nil { // slot and ppr: ranks contiguous per node
		for i, c := range counts {
			for range c {
				order = append(order, i)
			}
		}
	}
	return buildJobMap(hosts, counts, order), nil
}

// capacity is how many ranks host h may take.
func capacity(h Host, oversubscribe bool) int {
	switch {
	case !oversubscribe:
		return h.Slots
	case h.MaxSlots > 0:
		return h.MaxSlots
	}
	return int(^uint(0) >> 1)
}

func notEnough(hosts []Host, np int, oversubscribe bool) error {
	if oversubscribe {
		return fmt.Errorf("%w: %d ranks requested but the hosts' max_slots allow only %d", ErrNotEnoughSlots, np, sumCapacity(hosts, true))
	}
	return fmt.Errorf("%w: %d ranks requested but the hosts offer %d slots (%s); ask for fewer ranks, add slots, or use --oversubscribe", ErrNotEnoughSlots, np, TotalSlots(hosts), describeSlots(hosts))
}

func sumCapacity(hosts []Host, oversubscribe bool) int {
	total := 0
	for _, h := range hosts {
		c := capacity(h, oversubscribe)
		if total > int(^uint(0)>>2) || c > int(^uint(0)>>2) {
			return int(^uint(0) >> 1)
		}
		total += c
	}
	return total
}

func describeSlots(hosts []Host) string {
	parts := make([]string, 0, min(len(hosts), 8))
	for i, h := range hosts {
		if i == 8 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, h.Name+":"+strconv.Itoa(h.Slots))
	}
	return strings.Join(parts, ",")
}

// countBySlot fills each host's slots in turn; ranks past all slots go one
// at a time round-robin to the hosts still below max_slots.
func countBySlot(hosts []Host, np int, over bool, counts []int) error {
	if np > sumCapacity(hosts, over) {
		return notEnough(hosts, np, over)
	}
	left := np
	for i, h := range hosts {
		counts[i] = min(h.Slots, left)
		left -= counts[i]
	}
	return spread(hosts, counts, left)
}

// spread hands left extra ranks round-robin to hosts below max_slots; the
// caller has checked that they fit.
func spread(hosts []Host, counts []int, left int) error {
	for left > 0 {
		progressed := false
		for i, h := range hosts {
			if left == 0 {
				break
			}
			if counts[i] < capacity(h, true) {
				counts[i]++
				left--
				progressed = true
			}
		}
		if !progressed {
			return fmt.Errorf("%w: %d ranks do not fit in the hosts' max_slots", ErrNotEnoughSlots, left)
		}
	}
	return nil
}

// countByNode deals ranks round-robin over the hosts, skipping full ones.
func countByNode(hosts []Host, np int, over bool, counts []int) ([]int, error) {
	if np > sumCapacity(hosts, over) {
		return nil, notEnough(hosts, np, over)
	}
	order := make([]int, 0, np)
	// First every host up to its slots, then (oversubscribing) up to max.
	for _, limit := range []func(Host) int{func(h Host) int { return h.Slots }, func(h Host) int { return capacity(h, over) }} {
		for len(order) < np {
			progressed := false
			for i, h := range hosts {
				if len(order) == np {
					break
				}
				if counts[i] < limit(h) {
					counts[i]++
					order = append(order, i)
					progressed = true
				}
			}
			if !progressed {
				break
			}
		}
	}
	return order, nil
}

// countPPR puts n ranks on each host in turn, fewer on the last when np is
// not a multiple.
func countPPR(hosts []Host, np, n int, over bool, counts []int) error {
	if np > n*len(hosts) {
		return fmt.Errorf("%w: %d ranks requested but %d per node on %d nodes give %d", ErrNotEnoughSlots, np, n, len(hosts), n*len(hosts))
	}
	left := np
	for i, h := range hosts {
		c := min(n, left)
		if c > capacity(h, over) {
			if over {
				return fmt.Errorf("%w: %d ranks per node on %s exceed its max_slots=%d", ErrNotEnoughSlots, n, h.Name, h.MaxSlots)
			}
			return fmt.Errorf("%w: %d ranks per node on %s exceed its %d slots; use --oversubscribe", ErrNotEnoughSlots, n, h.Name, h.Slots)
		}
		counts[i] = c
		left -= c
	}
	return nil
}

func buildJobMap(hosts []Host, counts, order []int) *JobMap {
	m := &JobMap{Size: len(order), RankNode: make([]int, len(order)), RankLocal: make([]int, len(order))}
	nodeOf := make([]int, len(hosts))
	for i, h := range hosts {
		nodeOf[i] = -1
		if counts[i] == 0 {
			continue
		}
		nodeOf[i] = len(m.Nodes)
		m.Nodes = append(m.Nodes, NodePlan{Host: h, ID: len(m.Nodes), Ranks: make([]int, 0, counts[i])})
		if counts[i] > h.Slots {
			m.Oversubscribed = true
		}
	}
	for rank, hi := range order {
		n := &m.Nodes[nodeOf[hi]]
		m.RankNode[rank] = n.ID
		m.RankLocal[rank] = len(n.Ranks)
		n.Ranks = append(n.Ranks, rank)
	}
	return m
}

// WriteMap prints the job map in the spirit of Open MPI's --display-map.
func (m *JobMap) WriteMap(w io.Writer, jobID, app string) error {
	var b strings.Builder
	fmt.Fprintf(&b, " ========================   JOB MAP   ========================\n")
	for _, n := range m.Nodes {
		maxSlots := "unlimited"
		if n.Host.MaxSlots > 0 {
			maxSlots = strconv.Itoa(n.Host.MaxSlots)
		}
		fmt.Fprintf(&b, "\n Data for node: %s\tNum slots: %d\tMax slots: %s\tNum procs: %d\n", n.Host.Name, n.Host.Slots, maxSlots, len(n.Ranks))
		for local, r := range n.Ranks {
			fmt.Fprintf(&b, " \tProcess jobid: %s App: %s Process rank: %d Local rank: %d\n", jobID, app, r, local)
		}
	}
	fmt.Fprintf(&b, "\n =============================================================\n")
	_, err := io.WriteString(w, b.String())
	return err
}
