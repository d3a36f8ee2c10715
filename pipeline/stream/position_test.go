package stream

import "testing"

// TestPosition_OutOfOrderAcks: the checkpoint position covers the longest
// acknowledged run from the start and never an outstanding record,
// whatever order the acknowledgements come in.
func TestPosition_OutOfOrderAcks(t *testing.T) {
	p := newPosition("10")
	s := map[string]*slot{}
	for _, seq := range []string{"11", "12", "13", "14"} {
		s[seq] = p.send(seq)
	}
	steps := []struct {
		ack  string
		want string
	}{
		{"12", "10"}, // 11 outstanding
		{"14", "10"},
		{"11", "12"}, // 11 and 12 done; 13 outstanding
		{"13", "14"},
	}
	for _, st := range steps {
		p.ack(s[st.ack])
		if p.acked != st.want {
			t.Fatalf("after ack %s: position %s, want %s", st.ack, p.acked, st.want)
		}
	}
	if len(p.outstanding) != 0 || !p.unsaved() {
		t.Fatalf("outstanding %d, unsaved %v", len(p.outstanding), p.unsaved())
	}
	p.saved = p.acked
	if p.unsaved() {
		t.Fatal("unsaved after save")
	}
}
