package object

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abc", true},
		{"ABC", "abc", true},
		{"User:42.x_y-z", "user:42.x_y-z", true},
		{"0", "0", true},
		{strings.Repeat("a", MaxIDLen), strings.Repeat("a", MaxIDLen), true},
		{strings.Repeat("A", MaxIDLen), strings.Repeat("a", MaxIDLen), true},
		{strings.Repeat("a", MaxIDLen+1), "", false},
		{"", "", false},
		{"a/b", "", false},
		{"a b", "", false},
		{"a*", "", false},
		{"é", "", false},
		{"İ", "", false}, // no Unicode folding
		{"a\x00", "", false},
	} {
		got, err := NormalizeID(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("NormalizeID(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("NormalizeID(%q) error %v does not wrap ErrInvalidID", tc.in, err)
		}
	}
}

func TestValidateEntryName(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"balance", true},
		{"Balance.v2:x-y_z~!@#$%^&()", true},
		{strings.Repeat("n", MaxEntryNameLen), true},
		{strings.Repeat("n", MaxEntryNameLen+1), false},
		{"", false},
		{"a/b", false},
		{"a*", false},
		{"a?", false},
		{`a\`, false},
		{"a b", false},
		{"a\n", false},
		{"ü", false},
	} {
		err := ValidateEntryName(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("ValidateEntryName(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidEntryName) {
			t.Errorf("error %v does not wrap ErrInvalidEntryName", err)
		}
	}
}

func TestValidateClass(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"account", true},
		{"a1_b.c-d", true},
		{strings.Repeat("c", MaxClassLen), true},
		{strings.Repeat("c", MaxClassLen+1), false},
		{"", false},
		{"1abc", false},
		{"Account", false},
		{"a/b", false},
		{"a:b", false},
	} {
		err := ValidateClass(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("ValidateClass(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidClass) {
			t.Errorf("error %v does not wrap ErrInvalidClass", err)
		}
	}
}

// TestPartitionStable pins the hash: these values are on-disk placement.
func TestPartitionStable(t *testing.T) {
	for _, tc := range []struct {
		id   string
		n    uint32
		want uint32
	}{
		{"a", 1, 0},
		{"a", 0, 0},
		{"", 16, 5},   // FNV-1a 64 offset basis 0xcbf29ce484222325 % 16
		{"a", 16, 12}, // 0xaf63dc4c8601ec8c % 16
		{"user:42", 7, partitionRef("user:42", 7)},
	} {
		if got := Partition(tc.id, tc.n); got != tc.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
}

// partitionRef is FNV-1a 64 written out, the reference the hash must match.
func partitionRef(id string, n uint32) uint32 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 0x100000001b3
	}
	return uint32(h % uint64(n))
}

func TestPartitionSpread(t *testing.T) {
	const n = 16
	var counts [n]int
	for i := 0; i < 16000; i++ {
		id, _ := NormalizeID("obj-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i))
		p := Partition(id, n)
		if p != partitionRef(id, n) {
			t.Fatalf("Partition(%q) = %d, reference %d", id, p, partitionRef(id, n))
		}
		counts[p]++
	}
	for p, c := range counts {
		if c < 700 || c > 1300 {
			t.Errorf("partition %d got %d of 16000 ids", p, c)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func FuzzNormalizeID(f *testing.F) {
	for _, s := range []string{"abc", "ABC", "", "a/b", "User:42", strings.Repeat("z", 161), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error %v does not wrap ErrInvalidID", err)
			}
			return
		}
		if len(got) != len(s) || len(got) == 0 || len(got) > MaxIDLen {
			t.Fatalf("NormalizeID(%q) = %q: bad length", s, got)
		}
		if !strings.EqualFold(got, s) {
			t.Fatalf("NormalizeID(%q) = %q: not a case fold", s, got)
		}
		for i := 0; i < len(got); i++ {
			if !idByte(got[i]) {
				t.Fatalf("NormalizeID(%q) = %q holds %q", s, got, got[i])
			}
		}
		again, err := NormalizeID(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
		_ = Partition(got, 16)
	})
}
