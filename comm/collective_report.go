package comm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/mpx-hpc/mpx/comm/internal/coll"
)

// Reports of ranks blocked inside a collective. The engine's report names
// a waiting message by context and tag; a collective's tag is a call
// number and a round (coll/tag.go), meaningless to a person. Every
// collective call registers itself, with what it chose its algorithm
// from, while it runs; the report then turns "recv from rank 2, tag
// 1503625218, on world" into "allreduce (ring, round 3 of 4) recv from
// rank 2 on comm world". Registration is a map update under a mutex per
// call, nothing per message.

// callKey identifies a running collective call: its collective context
// and the low bits of its call number, which its tags carry.
type callKey struct {
	ctx uint32
	seq uint32
}

// callTable holds a world's running collective calls.
type callTable struct {
	mu sync.Mutex
	m  map[callKey]*collConn
}

func (t *callTable) add(k callKey, cc *collConn) {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[callKey]*collConn)
	}
	t.m[k] = cc
	t.mu.Unlock()
}

func (t *callTable) remove(k callKey) {
	t.mu.Lock()
	delete(t.m, k)
	t.mu.Unlock()
}

func (t *callTable) get(k callKey) *collConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[k]
}

// register records the call whose tags are t while it runs, under the key
// the caller removes it by.
func (c *Comm) register(t coll.Tag, cc *collConn) callKey {
	k := callKey{ctx: c.ctx + 1, seq: coll.SeqOf(t.At(0))}
	c.w.calls.add(k, cc)
	return k
}

// reportMark brackets a collective context's number in the engine's
// report, where report finds and rewrites it.
const reportMark = "\x00"

// reportName names a context for the engine's report: a communicator's
// name, or a collective context marked for rewriting.
func (w *world) reportName(ctx uint32) string {
	if ctx&1 == 1 {
		return reportMark + strconv.FormatUint(uint64(ctx), 10) + reportMark
	}
	return w.contextName(ctx)
}

// The engine's line for a waiting collective message (p2p.Engine.Report).
var (
	collWait = regexp.MustCompile(`(\S+) (to|from) rank (\d+), tag (\d+), on ` + reportMark + `(\d+)` + reportMark)
	collMark = regexp.MustCompile(reportMark + `(\d+)` + reportMark)
)

// report says what this rank is blocked in, for the launcher's --timeout
// report and commtest's deadline, with collective rounds named.
func (w *world) report() string {
	text := w.eng.Report(w.reportName)
	if !strings.Contains(text, reportMark) {
		return text
	}
	text = collWait.ReplaceAllStringFunc(text, func(m string) string {
		s := collWait.FindStringSubmatch(m)
		peer, _ := strconv.Atoi(s[3])
		tag, _ := strconv.Atoi(s[4])
		ctx, _ := strconv.ParseUint(s[5], 10, 32)
		return w.describeWait(s[1], s[2], peer, tag, uint32(ctx))
	})
	// A line of another shape keeps its tag; at least name the context.
	return collMark.ReplaceAllStringFunc(text, func(m string) string {
		ctx, _ := strconv.ParseUint(strings.Trim(m, reportMark), 10, 32)
		return w.contextName(uint32(ctx)) + " (collective)"
	})
}

// describeWait names a waiting collective message: the call, its
// algorithm and round, and the peer as a rank of the communicator.
func (w *world) describeWait(op, dir string, worldPeer, tag int, ctx uint32) string {
	name := w.contextName(ctx)
	cc := w.calls.get(callKey{ctx: ctx, seq: coll.SeqOf(tag)})
	if cc == nil {
		return fmt.Sprintf("collective call %d (round %d) %s %s world rank %d on comm %s",
			coll.SeqOf(tag), coll.RoundOf(tag), op, dir, worldPeer, name)
	}
	peer := fmt.Sprintf("rank %d", cc.c.fromWorld(worldPeer))
	if cc.c.inv != nil && cc.c.fromWorld(worldPeer) != worldPeer {
		peer += fmt.Sprintf(" (world rank %d)", worldPeer)
	}
	return fmt.Sprintf("%s (%s) %s %s %s on comm %s", cc.op, cc.call.Describe(tag), op, dir, peer, name)
}
