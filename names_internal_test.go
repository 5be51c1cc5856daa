package pgqueue

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// validQueueName is queueNameRule as a regular expression would apply it,
// on edge cases and on random strings over the bytes that matter.
func TestValidQueueNameMatchesTheRule(t *testing.T) {
	t.Parallel()
	rule := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$`)
	cases := []string{"", "a", "_", ".a", ":a", "-a", "a.", "a:b-c_d", strings.Repeat("x", 128), strings.Repeat("x", 129), "é", "a b", "a\x00", "Z9"}
	alphabet := "aZ09_.:- é\x00/"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := validQueueName(s), rule.MatchString(s); got != want {
			t.Fatalf("validQueueName(%q) = %v, the rule says %v", s, got, want)
		}
	}
}
