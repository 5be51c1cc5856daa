package pgqueue

// Queue names: the one rule and the one check every path applies.

import "fmt"

// queueNameRule says what a valid queue name is, for error messages.
const queueNameRule = "must be 1-128 letters, digits, '_', '.', ':' or '-', not starting with '.', ':' or '-'"

// CheckQueueName returns nil for a valid queue name: 1 to 128 ASCII
// letters, digits, '_', '.', ':' or '-', starting with a letter, digit or
// '_'. Otherwise it returns a *ValidationError for field "queue" that
// matches ErrInvalidArgs. Backends and tools that take queue names from
// outside call it so that every path applies the same rule.
func CheckQueueName(queue string) error { return checkQueueName("queue", queue, ErrInvalidArgs) }

// checkQueueName checks queue as the value of field, reporting kind
// (ErrInvalidArgs for a call's argument, ErrInvalidConfig for
// configuration).
func checkQueueName(field, queue string, kind error) error {
	if validQueueName(queue) {
		return nil
	}
	return &ValidationError{Field: field, Reason: fmt.Sprintf("%q %s", queue, queueNameRule), kind: kind, label: "queue name"}
}

// validQueueName applies queueNameRule byte by byte: every enqueue checks
// its queue, and a regular expression costs that path more than the rest
// of its validation.
func validQueueName(queue string) bool {
	if len(queue) == 0 || len(queue) > 128 {
		return false
	}
	for i := 0; i < len(queue); i++ {
		c := queue[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case i > 0 && (c == '.' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}
