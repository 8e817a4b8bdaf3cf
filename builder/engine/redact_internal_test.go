package engine

import (
	"bytes"
	"testing"
)

func TestRedactorMasksSecretsSplitAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	r := newRedactor(&out, []string{"hunter2-long", "tok"})
	for _, chunk := range []string{"Looking in http://u:hun", "ter2-long@h/simple\nnext tok", "en line", "\nlast hunter2-long"} {
		if _, err := r.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "Looking in http://u:****@h/simple\nnext ****en line\nlast ****"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}
