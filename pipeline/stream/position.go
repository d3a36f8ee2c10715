package stream

// position tracks how far a consumer group got in one shard: records are
// sent in order and may be settled in any order; the checkpoint is the
// sequence number of the last record of the longest run of acknowledged
// records from the start, so a checkpoint never covers a record that is
// still outstanding. The loop of this package keeps one record outstanding
// at a time; the tracking does not depend on that.
type position struct {
	outstanding []*slot // sent and not yet acknowledged, or acknowledged behind one that is not; in send order
	acked       string  // checkpoint position: this record and every one before it are acknowledged
	saved       string  // last position the store accepted (or the one loaded)
}

// slot is one sent record.
type slot struct {
	seq   string
	acked bool
}

func newPosition(start string) *position { return &position{acked: start, saved: start} }

// send registers the next record of the shard as sent.
func (p *position) send(seq string) *slot {
	s := &slot{seq: seq}
	p.outstanding = append(p.outstanding, s)
	return s
}

// ack marks s acknowledged and moves the checkpoint position over every
// acknowledged record at the head.
func (p *position) ack(s *slot) {
	s.acked = true
	n := 0
	for n < len(p.outstanding) && p.outstanding[n].acked {
		p.acked = p.outstanding[n].seq
		n++
	}
	if n > 0 {
		clear(p.outstanding[:n])
		p.outstanding = p.outstanding[n:]
	}
}

// unsaved reports whether the checkpoint position moved since the last save.
func (p *position) unsaved() bool { return p.acked != p.saved }
